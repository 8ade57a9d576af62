"""Suites whose point is a real server process on loopback: nginx, benchmarks, a delay server."""
