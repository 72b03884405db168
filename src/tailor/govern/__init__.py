"""Governance tools over BFFs, as commands: ``python -m tailor.govern <command>``.

sunset-check   calls per client version to a deprecated route, from the BFF's metrics;
               refuses a sunset while the route's share of traffic is above its threshold
"""
