"""Benchmarks of bufferkit over loopback HTTP; run ``python -m benchmarks.run``."""
