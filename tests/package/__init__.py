"""Tests of the package as a whole: the public API, the import contracts, the README's blocks."""
