"""Tests of loadnb.spec: the load spec and its checks, load shapes."""
