"""Governance of a BFF's contracts: what its responses expose (data classes and the gate on
personal data) and what it consumes from each service (consumer-driven contracts).

Each concern is one module; ``python -m tailor.govern <command>`` runs their commands.
"""
