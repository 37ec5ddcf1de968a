"""Helpers shared by the tests and the benchmarks: a loopback HTTP site and the corpora."""
