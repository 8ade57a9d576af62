"""Tests of loadnb.metrics: histograms and the recorder, custom metrics, the one codec."""
