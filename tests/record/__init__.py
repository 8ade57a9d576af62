"""Tests of loadnb.record: the live run record and the summary's pinned keys."""
