"""Tests of loadnb.app: the dashboard app in Voila."""
