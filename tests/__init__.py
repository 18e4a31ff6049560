"""Helpers that the apps' tests and the benchmarks share; never imported by
the running site (drawings as a canvas sends them, free ports)."""
