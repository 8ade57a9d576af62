"""Tests of loadnb.text: the number formatters."""
