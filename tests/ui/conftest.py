"""Fixtures shared by the widget tests: a real aiohttp server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """``/`` answers OK after 2 ms, ``/status/{code}`` answers that status."""

    async def ok(_: web.Request) -> web.Response:
        await asyncio.sleep(0.002)
        return web.Response(text="OK")

    async def status(request: web.Request) -> web.Response:
        await asyncio.sleep(0.002)
        return web.Response(status=int(request.match_info["code"]), text="status")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/status/{code}", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()

