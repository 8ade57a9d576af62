"""Tests of loadnb.engine: the generator, virtual users, scenarios, cookies, loop and ticker."""
