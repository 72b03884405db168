"""Benchmarks for tailor: ``python -m benchmarks.run`` (``make bench``). Not part of the tests."""
