"""Rate-limit figures: exactness across processes, and the cost of the edge pipeline."""
