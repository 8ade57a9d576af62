"""Tests of loadnb.console: the progress line and the summary table."""
