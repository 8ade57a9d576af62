"""Tests of loadnb.demo: the demo server in-process, as a child process and its /metrics."""
