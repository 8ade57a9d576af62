"""Helpers shared by the benchmarks: a private nginx, wrk, child processes, medians (the CPU
pinning of all of them: ``benchmarks/pinning.py``).

Everything here loads 127.0.0.1 only and bounds every load in time. Figures are ratios measured in
the same run (the machine is shared and noisy: ±15-35 % run to run), never absolute numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pinning import CORES, find_tool, pinned

ROOT = Path(__file__).resolve().parent.parent

#: Size of the static file served at ``/large`` (a body that takes many reads).
LARGE_BODY = 256 * 1024


# -- processes ----------------------------------------------------------------------------------
def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when this process dies, however it dies (Linux), so
    a killed benchmark leaves no nginx or generator behind."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def waited_seconds(pid: int | str = "self") -> float:
    """Seconds process ``pid``'s main thread has waited on a run queue for a CPU since it
    started (``/proc/PID/schedstat``): how long something else held its core. NaN where the
    kernel does not keep it."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return math.nan


def stolen_seconds() -> float:
    """Seconds the hypervisor has run something else while this machine's CPUs wanted to run
    (``steal`` in ``/proc/stat``, all CPUs, in clock ticks); NaN where it is not kept."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


# -- nginx --------------------------------------------------------------------------------------
NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = / {{ return 200 "OK"; }}
        location = /unique {{ return 200 "$request_id"; }}
        location = /status {{ stub_status; }}
        location /static/ {{ alias {tmp}/static/; }}
    }}
}}
"""


class Nginx:
    """A private nginx on 127.0.0.1 (one worker, keep-alive, no access log), pinned to a core.

    ``url`` answers ``200 OK`` (2-byte body); ``unique_url`` a body that differs every time (the
    request's random 32-hex id: no two responses alike); ``large_url`` serves a static file of
    :data:`LARGE_BODY` bytes; :meth:`requests_handled` reads ``stub_status`` (the server's own
    count of requests). Use as a context manager; everything lives in a temp dir removed at exit.
    """

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="loadnb-bench-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.unique_url = f"http://127.0.0.1:{self.port}/unique"
        self.large_url = f"http://127.0.0.1:{self.port}/static/large.bin"
        self.status_url = f"http://127.0.0.1:{self.port}/status"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        binary = find_tool("nginx")
        if binary is None:
            raise RuntimeError("nginx is not installed (make sysdeps)")
        (self.tmp / "static").mkdir()
        (self.tmp / "static" / "large.bin").write_bytes(os.urandom(LARGE_BODY))
        # As root, the master would hand the worker to 'nobody', who cannot read the temp dir.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=self.tmp, port=self.port))
        argv = [binary, "-p", str(self.tmp), "-c", str(conf), "-e", str(self.tmp / "error.log")]
        self.proc = subprocess.Popen(pinned(CORES.server, argv), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self._cleanup()
                raise RuntimeError(f"nginx exited at start: {err.strip() or self._error_log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=1) as resp:
                    if resp.read() == b"OK":
                        return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"nginx did not answer on {self.url}: {self._error_log()}")

    def _error_log(self) -> str:
        try:
            return (self.tmp / "error.log").read_text()[-2000:]
        except OSError:
            return ""

    def requests_handled(self) -> int:
        """Requests nginx has handled since it started (``stub_status``; includes this one)."""
        with urllib.request.urlopen(self.status_url, timeout=5) as resp:
            text = resp.read().decode()
        match = re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s*$", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"unexpected stub_status output: {text!r}")
        return int(match.group(3))

    def waited_seconds(self) -> float:
        """Seconds nginx's processes have waited for a CPU since they started (see
        :func:`waited_seconds`): its worker, on its pinned core, waits only while something
        else runs there."""
        if self.proc is None:
            return math.nan
        pid = self.proc.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                workers = [int(w) for w in f.read().split()]
        except OSError:
            workers = []
        return sum(waited_seconds(p) for p in [pid, *workers])

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: nginx's fast shutdown (master and worker)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        self._cleanup()

    def _cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- load generators ----------------------------------------------------------------------------
@dataclass
class Measured:
    """One generator run: requests answered, its wall time and its own CPU time (seconds)."""

    requests: int
    seconds: float
    cpu: float
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        """Requests answered per second of wall time."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Requests answered per second of the generator's own CPU time."""
        return self.requests / self.cpu if self.cpu > 0 else 0.0


def _wait_with_rusage(proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for ``proc`` and return its user+system CPU seconds (``wait4``, this child only)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise TimeoutError(f"{proc.args!r} did not end within {timeout:g}s")
        time.sleep(0.02)


_WRK_RATE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(\w+),", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def run_wrk(url: str, seconds: float, connections: int = 64) -> Measured:
    """``wrk -t1 -c<connections>`` pinned to the generator core; CPU time from ``wait4``.

    wrk takes whole seconds only: ``seconds`` is rounded (at least 1).
    """
    wrk = find_tool("wrk") or "wrk"
    whole = max(1, round(seconds))
    argv = pinned(CORES.generator, [wrk, "-t1", f"-c{connections}", f"-d{whole}s", url])
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=die_with_parent) as proc:
        # wrk prints only at its end: its output fits the pipe buffer, so wait first, then read.
        cpu = _wait_with_rusage(proc, seconds + 30)
        out = (proc.stdout.read() if proc.stdout else b"").decode()
        err = (proc.stderr.read() if proc.stderr else b"").decode()
    match = _WRK_RATE.search(out)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out}{err}")
    total = int(match.group(1))
    wall = float(match.group(2)) * _UNIT[match.group(3)]
    errors = ";".join(m.group(0) for m in _WRK_ERRORS.finditer(out))
    return Measured(total, wall, cpu, {"errors": errors} if errors else {})


def run_child(kind: str, params: dict[str, Any], timeout: float,
              module: str = "benchmarks.child") -> dict[str, Any]:
    """Run ``python -m <module> <kind> <params>`` (``benchmarks/child.py`` unless told; pinned to
    the generator core); return its JSON result.

    The child prints exactly one JSON object on its last stdout line; ``cpu_total`` (its whole
    CPU time, imports included, from ``wait4``) is added to it.
    """
    argv = pinned(CORES.generator, [sys.executable, "-m", module, kind, json.dumps(params)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    env.pop("LOADNB_DEBUG", None)  # the accounting check is a test aid: keep it off the clock
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=env,
                                preexec_fn=die_with_parent)
        cpu = _wait_with_rusage(proc, timeout)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {kind!r} failed ({proc.returncode}):\n"
                           f"{stdout[-3000:]}\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["cpu_total"] = cpu
    return result


def request_bytes(url: str) -> str:
    """The bytes loadnb's fast transport sends for a GET of ``url`` (latin-1 text), for the raw
    client, which imports nothing of loadnb."""
    from loadnb.transport.base import TransportOptions
    from loadnb.transport.wire import serialise

    return serialise(TransportOptions(url)).decode("latin-1")


def measured(result: dict[str, Any]) -> Measured:
    """A child's ``{requests, seconds, cpu}`` result as :class:`Measured`."""
    return Measured(int(result["requests"]), float(result["seconds"]), float(result["cpu"]),
                    result)


# -- statistics and printing --------------------------------------------------------------------
def median(values: Iterable[float]) -> float:
    """The median (NaN for no values)."""
    data = [v for v in values if v == v]
    return statistics.median(data) if data else float("nan")


def median_error(values: Sequence[float]) -> float:
    """Standard error of the median of ``values`` (1.2533 x stdev / sqrt(n), the normal-case
    factor); NaN with fewer than 3 values."""
    data = [v for v in values if v == v]
    if len(data) < 3:
        return float("nan")
    return 1.2533 * statistics.stdev(data) / math.sqrt(len(data))


def spread(values: Sequence[float]) -> str:
    """``min–max`` of the repetitions, for showing how noisy a median is."""
    data = [v for v in values if v == v]
    if len(data) < 2:
        return ""
    return f" (runs {min(data):.3g}-{max(data):.3g})"


def fmt_rate(value: float) -> str:
    """A request rate for humans: ``41,230/s``."""
    return f"{value:,.0f}/s"
