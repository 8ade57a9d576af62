"""Tests of loadnb.rules: alert rules and the threshold language."""
