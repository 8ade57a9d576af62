"""Tests of loadnb.distributed: splitting, worker sources, Dask clusters on 127.0.0.1."""
