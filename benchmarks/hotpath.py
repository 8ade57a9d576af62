"""The per-request path without the socket: instructions (callgrind) or time per request.

    .venv/bin/python benchmarks/hotpath.py                    # about 3 minutes (valgrind)
    .venv/bin/python benchmarks/hotpath.py --time             # nanoseconds, no valgrind

A connection whose transport's ``write`` does nothing is fed the same nginx response over and
over; each response completes a request and writes the next, as on the wire. Kinds: ``raw`` (the
benchmarks' raw uvloop client's protocol: parse, count, write), ``closed`` (a loadnb chain: a
closed-model user), ``closed-new`` (the same, every response different from the last: parsed each
time), ``open`` (loadnb's open model: the pacer's arrivals in batches of 10 through the lane, on
10 connections), ``open-queued`` (the open model behind its arrivals: every response writes the
next waiting arrival on its connection, as when a backlog drains), ``open-paced`` (``open``
with the engine's own wake-ups: 20,000 arrivals a second on a clock advanced 0.5 ms a wake-up,
its timer set as in a run). Under callgrind each
kind runs twice (n, then 3n requests): the difference over 2n requests is one request's
instructions, set-up cancelled out. What is left out is the same for every kind: uvloop's read
and write, the kernel.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import operator
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT  # noqa: E402

RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 06 Dec 2025 03:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nOK")
OTHER = RESPONSE.replace(b"03:00:00", b"03:00:01")
KINDS = ("raw", "closed", "closed-new", "open", "open-queued", "open-paced")
BATCH = 10


class NullSocket:
    """The asyncio transport under a connection: writes go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def raw(n: int) -> None:
    from benchmarks.child import RawClient, RawConn

    conn = RawConn(RawClient(b"GET / HTTP/1.1\r\n\r\n", None))
    conn.transport = NullSocket()  # type: ignore[assignment]
    received = conn.data_received
    for _ in range(n):
        received(RESPONSE)


def loadnb_engine(model: dict[str, Any], clock: Any = time.perf_counter) -> Any:
    from loadnb import make_spec
    from loadnb.engine.generator import Engine
    from loadnb.metrics.stats import Recorder
    from loadnb.transport.fast import FastTransport

    spec = make_spec("http://127.0.0.1:9/", transport="fast", **model)
    transport = FastTransport(spec.transport_options())
    transport._sweep = lambda: None  # type: ignore[method-assign]  # (no timeouts here)
    engine = Engine(spec, transport, Recorder(), clock)
    engine.t0, engine.phase = clock(), "running"
    engine.end_at = engine.t0 + 1e9
    return engine


def connection(engine: Any) -> Any:
    from loadnb.transport.conn import IDLE, Conn

    transport = engine.transport
    conn = Conn(transport, transport._payload, True)
    conn.connection_made(NullSocket())
    conn.state = IDLE
    return conn


def closed(n: int, new: bool = False) -> None:
    from loadnb.engine.work import UserChain

    engine = loadnb_engine({"users": 1, "duration": 1e6})
    conn, chain = connection(engine), UserChain(engine.work, 0, set())
    chain.next()
    conn.start(chain, asyncio.get_running_loop().create_future(), 0)
    received, responses = conn.data_received, (RESPONSE, OTHER if new else RESPONSE)
    for i in range(n):
        received(responses[i & 1])


def on_lane(engine: Any, count: int) -> list[Any]:
    """``count`` idle connections of the engine's open-model lane (made, with the lane's stats,
    as the engine's ``ready_pacer`` makes them, unless it has done so)."""
    if engine._lane is None:
        engine._lane = engine.work.lane()
    lane = engine._lane
    engine._acc = engine.recorder.stats_for(engine.spec.request_name)
    conns = [connection(engine) for _ in range(count)]
    for conn in conns:
        conn.lane = lane
        engine.transport.idle.append(conn)
    return conns


def open_model(n: int) -> None:
    from loadnb.engine.timer import Pacer

    engine = loadnb_engine({"rate": 1e6, "duration": 1e6})
    conns = on_lane(engine, BATCH)
    pacer, arrive = Pacer(lambda t: 1e6, 1e6, engine.t0), engine._arrive
    for i in range(n // BATCH):
        arrive(pacer.due((i + 1) * BATCH / 1e6 - 0.5e-6))
        for conn in reversed(conns):
            conn.data_received(RESPONSE)


def open_queued(n: int) -> None:
    """Every arrival waits for a connection; each response writes the next one on its own."""
    engine = loadnb_engine({"rate": 1e6, "duration": 1e6, "connections": BATCH})
    conns = on_lane(engine, BATCH)
    engine.transport.held = BATCH  # (the pool is full: nothing more is opened)
    engine._lane.send([engine.t0 + i * 1e-6 for i in range(n + BATCH)])  # BATCH sent, n waiting
    for _ in range(n // BATCH):
        for conn in conns:
            conn.data_received(RESPONSE)


def open_paced(n: int) -> None:
    """The engine's own wake-ups (``_pace``: the pacer, its timer, the lane) at 20,000/s."""
    now = [0.0]
    engine = loadnb_engine({"rate": 20_000.0, "duration": 1e6},
                           functools.partial(operator.getitem, now, 0))
    engine.ready_pacer()  # (what the engine's run does before its clock starts, then after)
    engine._start_pacer()
    conns = on_lane(engine, BATCH + 2)
    for _ in range(n // BATCH + 1):
        engine._pace()
        for conn in conns:
            if conn.waiter is not None:
                conn.data_received(RESPONSE)
        now[0] += BATCH / 20_000.0
    engine._sleeper.close()


async def one(kind: str, n: int) -> float:
    run = {"raw": raw, "closed": closed, "closed-new": lambda n: closed(n, new=True),
           "open": open_model, "open-queued": open_queued, "open-paced": open_paced}[kind]
    start = time.perf_counter()
    run(n)
    return time.perf_counter() - start


def child(kind: str, n: int) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(one(kind, min(n, 1_000)))  # imports and first calls: not a request's cost
        print(f"{runner.run(one(kind, n)) / n * 1e9:.0f}")


def instructions(kind: str, n: int) -> int:
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
            "-m", "benchmarks.hotpath", "--child", kind, str(n)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="time it, without valgrind")
    parser.add_argument("-n", type=int, default=20_000, help="requests (default 20,000)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    for kind in KINDS:
        if args.time:
            best = min(float(subprocess.run(
                [sys.executable, "-m", "benchmarks.hotpath", "--child", kind, str(args.n)],
                capture_output=True, text=True, cwd=ROOT, check=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout) for _ in range(3))
            print(f"{kind:<11} {best:,.0f} ns per request (best of 3)", flush=True)
        else:
            per = (instructions(kind, 3 * args.n) - instructions(kind, args.n)) / (2 * args.n)
            print(f"{kind:<11} {per:,.0f} instructions per request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
