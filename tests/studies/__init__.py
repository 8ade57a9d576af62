"""Tests of loadnb.studies: the capacity search, the sweep, the USL fit."""
