"""Tests of loadnb.history: the store, writer, reader and comparison, and the history CLI."""
