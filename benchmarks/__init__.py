"""Benchmark scripts and readers for the public instance sets (``benchmarks.instances``)."""
