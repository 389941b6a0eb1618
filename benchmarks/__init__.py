"""Benchmarks: scripts that print a table with a baseline measured in the same run.

Run one with ``.venv/bin/python -m benchmarks.<name> [--quick]`` from the
repository root. Shared helpers live in :mod:`benchmarks._common`.
"""
