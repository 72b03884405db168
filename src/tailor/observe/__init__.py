"""Observability: Prometheus metrics and the admin listener that exposes them."""
