"""Tests of loadnb.charts: axis ticks and the palette."""
