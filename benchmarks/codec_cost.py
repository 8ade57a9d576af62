"""The per-tick cost of the Dask codec: encode + msgpack + decode of one realistic payload.

A worker encodes one payload per tick and the driver decodes one per worker per tick, so this is
what the codec costs the driver per worker and tick. The payload: 64 request names, each with a
latency and a service histogram of a few hundred answers, status codes, errors and an error
sample for some, named checks; scenario iterations; four custom metrics (counter, gauge, two
timings); a status with events.

    PYTHONPATH=. .venv/bin/python benchmarks/codec_cost.py            # best and median, in µs
    PYTHONPATH=. .venv/bin/python benchmarks/codec_cost.py --names 8 --repeat 2000
    git show renovation:loadnb/metrics/codec.py > /tmp/codec_before.py
    PYTHONPATH=. .venv/bin/python benchmarks/codec_cost.py --against /tmp/codec_before.py

``--against`` loads another codec module (one with ``encode_payload``/``decode_payload``, e.g.
the one before a change) into this process and interleaves its measurements with this one's,
so a busy machine's drifts hit both alike; CPU time of this process, not wall time.

No network, no load: a pure CPU measurement (pin it with ``taskset -c 0`` on a busy machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgpack

from loadnb.metrics.codec import decode_payload, encode_payload
from loadnb.metrics.custom import CustomMetric
from loadnb.metrics.histogram import Histogram
from loadnb.metrics.payload import Payload, SourceStatus
from loadnb.metrics.stats import IntervalStats


def payload(names: int, seed: int = 7) -> Payload:
    """A realistic interval of ``names`` request names (see the module docstring)."""
    rng = random.Random(seed)
    stats: dict[str, IntervalStats] = {}
    for k in range(names):
        n = rng.randint(100, 600)
        bad = n // 50 if k % 4 == 0 else 0
        name = f"GET /api/item/{k}"
        stats[name] = IntervalStats(
            name, started=n + 2, completed=n - bad, failed=bad, bytes=900 * n,
            latency=Histogram.from_seconds([rng.lognormvariate(-4, 0.6) for _ in range(n)]),
            service=Histogram.from_seconds([rng.lognormvariate(-4.5, 0.5) for _ in range(n)]),
            status={200: n - bad, **({503: bad} if bad else {})},
            errors={"HTTP 503": bad} if bad else {},
            samples={"HTTP 503": "Service Unavailable " * 4} if bad else {},
            checks={"status is 200": [n - bad, bad]})
    first = next(iter(stats.values()), None)
    if first is not None:
        first.iterations = {"journey": [120, 2]}
        first.iteration_errors = {"journey\x00AssertionError": 2}
    timing = [rng.lognormvariate(-3, 0.5) for _ in range(300)]
    custom = {"items": CustomMetric("items", "counter", 40, 97.0),
              "queue": CustomMetric("queue", "gauge", 12, 0.0, 5.0, 1.0, 9.0),
              "checkout": CustomMetric("checkout", "timing", 300, sum(timing), min=min(timing),
                                       max=max(timing), hist=Histogram.from_seconds(timing)),
              "login": CustomMetric("login", "timing", 300, sum(timing), min=min(timing),
                                    max=max(timing), hist=Histogram.from_seconds(timing))}
    status = SourceStatus(active_users=50, in_flight=12, target_users=50, phase="running",
                          started=9000, progress=41.5, eta=12.0, events=[(3.5, "set to 50")],
                          loop_lag_ms=1.2, cpu_percent=63.0, workers=1)
    return Payload(stats, status, custom)


Codec = tuple[Callable[[Payload], Any], Callable[[Any], Payload]]


def once(p: Payload, codec: Codec = (encode_payload, decode_payload)) -> Payload:
    """What one tick costs: the worker's encode, the wire both ways, the driver's decode."""
    encode, decode = codec
    wire = msgpack.packb(encode(p), use_bin_type=True)
    return decode(msgpack.unpackb(wire, raw=False, strict_map_key=False))


def load_codec(path: str) -> Codec:
    """The ``encode_payload``/``decode_payload`` of the codec module at ``path`` (loaded as a
    module of :mod:`loadnb.metrics`, so its relative imports are this tree's)."""
    spec = importlib.util.spec_from_file_location("loadnb.metrics._codec_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.encode_payload, module.decode_payload


def measure(names: int, repeat: int, codecs: list[Codec]) -> list[tuple[float, float]]:
    """Best and median µs (CPU) per encode + decode of each codec, interleaved."""
    p = payload(names)
    times: list[list[float]] = [[] for _ in codecs]
    for _ in range(20):
        for codec in codecs:
            once(p, codec)
    for _ in range(repeat):
        for codec, out in zip(codecs, times, strict=True):
            t0 = time.process_time()
            once(p, codec)
            out.append(time.process_time() - t0)
    return [(min(t) * 1e6, statistics.median(t) * 1e6) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=500)
    parser.add_argument("--against", help="another codec module to compare with")
    args = parser.parse_args()
    codecs: list[Codec] = [(encode_payload, decode_payload)]
    labels = ["this codec"]
    if args.against:
        codecs.append(load_codec(args.against))
        labels.append(args.against)
    size = len(msgpack.packb(encode_payload(payload(args.names)), use_bin_type=True))
    print(f"{args.names} names, {size:,} bytes on the wire; µs (CPU) per encode + decode:")
    for label, (best, median) in zip(labels, measure(args.names, args.repeat, codecs),
                                      strict=True):
        print(f"  {label}: best {best:,.0f}, median {median:,.0f}")


if __name__ == "__main__":
    main()
