"""Tests of loadnb.results: the Result view, exports and CSV, the report, the live line."""
