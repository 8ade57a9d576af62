"""Tests of loadnb.cli: the loadnb command as a subprocess."""
