"""Authentication: who the caller is, established once at the edge."""
