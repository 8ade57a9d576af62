"""Tests of loadnb.ui: the LoadTest widget and dashboard without a browser."""
