"""Tests of loadnb.transport: the fast, aiohttp and HTTP/2 transports, the pool, faults."""
