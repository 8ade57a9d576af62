"""The demo server's ``GET /metrics``: Prometheus text exposition of what it counted and of its
own process, with the standard library only (no psutil, no prometheus_client).

Series: ``demo_requests_total{path}`` (the same counts as ``/stats``'s ``by_path``: a request is
counted on arrival; ``/stats``, ``/stats/reset`` and ``/metrics`` are not counted),
``demo_responses_total{status}`` (``/stats``'s ``responses``), ``demo_in_flight``, and the
process's ``process_cpu_seconds_total`` (user + system, all threads),
``process_resident_memory_bytes``, ``process_open_fds`` and ``process_max_fds`` (the last three
where ``/proc`` and ``resource`` exist: Linux). ``POST /stats/reset`` zeroes the demo counters,
which a scraper sees as a restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["CONTENT_TYPE", "process_metrics", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def process_metrics() -> dict[str, tuple[str, str, float]]:
    """``{metric: (type, help, value)}`` of this process (what this platform can tell)."""
    times = os.times()
    out = {"process_cpu_seconds_total": ("counter", "User and system CPU time spent, seconds.",
                                         times.user + times.system)}
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        out["process_resident_memory_bytes"] = (
            "gauge", "Resident memory size, bytes.", float(pages * os.sysconf("SC_PAGE_SIZE")))
        out["process_open_fds"] = ("gauge", "Open file descriptors.",
                                   float(len(os.listdir("/proc/self/fd"))))
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY:
            out["process_max_fds"] = ("gauge", "Maximum open file descriptors.", float(soft))
    except (ImportError, OSError, ValueError):
        pass
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(by_path: Mapping[str, int], responses: Mapping[int, int], in_flight: int) -> str:
    """The ``/metrics`` document."""
    lines = ["# HELP demo_requests_total Requests received, by path (as /stats counts them).",
             "# TYPE demo_requests_total counter"]
    lines += [f'demo_requests_total{{path="{_escape(p)}"}} {n}' for p, n in by_path.items()]
    lines += ["# HELP demo_responses_total Responses sent, by status.",
              "# TYPE demo_responses_total counter"]
    lines += [f'demo_responses_total{{status="{s}"}} {n}' for s, n in sorted(responses.items())]
    lines += ["# HELP demo_in_flight Requests being answered.", "# TYPE demo_in_flight gauge",
              f"demo_in_flight {in_flight}"]
    for metric, (kind, text, value) in process_metrics().items():
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}",
                  f"{metric} {_number(value)}"]
    return "\n".join(lines) + "\n"
