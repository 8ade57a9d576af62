"""Tests of loadnb.runner: the monitor, judging runs, start-up."""
