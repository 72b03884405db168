"""The partner API BFF: labels' own catalog, over API keys or mutual TLS."""
