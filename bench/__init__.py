"""Benchmarks of bluecurrent_sync: ``python -m bench`` (``make bench``); see bench/RESULTS.md."""
