"""The measured side of benchmarks/h2.py: one HTTP/2 generator per process.

    python -m benchmarks.h2child <loadnb|httpx> '{"url": ..., "seconds": ...}'

prints one JSON object on its last line: ``requests`` answered, ``seconds`` of load, ``cpu``
seconds of this process over the load (imports excluded).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

CONNECTIONS, STREAMS = 64, 10


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def child_loadnb(p: dict[str, Any]) -> dict[str, Any]:
    from loadnb import Run, make_spec

    spec = make_spec(p["url"], http2=True, streams=STREAMS, connections=CONNECTIONS,
                     insecure=True, users=CONNECTIONS * STREAMS, duration=p["seconds"],
                     history="off", interval=0.5)
    cpu0 = cpu_seconds()
    result = await Run(spec).run()
    s = result.summary
    return {"requests": s["completed_requests"], "failed": s["failed_requests"],
            "seconds": s["duration_s"], "cpu": cpu_seconds() - cpu0,
            "protocol": s["protocol"], "errors": s["errors"]}


async def child_httpx(p: dict[str, Any]) -> dict[str, Any]:
    import httpx

    clients = [httpx.AsyncClient(http1=False, http2=True, verify=False) for _ in range(CONNECTIONS)]
    count = failed = 0
    end = 0.0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal count, failed
        while time.perf_counter() < end:
            response = await client.get(p["url"])
            count += 1
            failed += response.status_code >= 400 or response.http_version != "HTTP/2"

    try:
        for client in clients:  # connect first (as h2load and loadnb count their set-up too)
            await client.get(p["url"])
        cpu0, start = cpu_seconds(), time.perf_counter()
        end = start + p["seconds"]
        await asyncio.gather(*(worker(c) for c in clients for _ in range(STREAMS)))
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    finally:
        for client in clients:
            await client.aclose()
    return {"requests": count - failed, "failed": failed, "seconds": wall, "cpu": cpu}


def child_main(kind: str, params: str) -> None:
    from loadnb.engine.loop import run_to_end

    coro = {"loadnb": child_loadnb, "httpx": child_httpx}[kind](json.loads(params))
    print(json.dumps(run_to_end(coro)))



if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2])
