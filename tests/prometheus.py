"""A private Prometheus server on 127.0.0.1 for tests, in a temporary directory (a context manager).

Debian's ``prometheus`` package (``make sysdeps``) is started with a 1 s scrape and evaluation
interval, its TSDB in the temporary directory, listening on a free loopback port. Its targets come
from a file (``file_sd_configs``, job ``loadnb``) that :meth:`Prometheus.scrape` rewrites, so one
server serves several tests. :meth:`Prometheus.query` asks the HTTP query API (an instant query)
without blocking the caller's event loop, so an exporter on that loop goes on being scraped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

SCRAPE_INTERVAL_S = 1


def find_prometheus() -> str | None:
    """The prometheus binary (PATH, then Debian's /usr/bin), or None."""
    found = shutil.which("prometheus")
    if found:
        return found
    return "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """See the module's doc. ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="loadnb-prometheus-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets = self.dir / "targets.json"
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        self.scrape()
        config = self.dir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: {SCRAPE_INTERVAL_S}s\n"
            f"  scrape_timeout: {SCRAPE_INTERVAL_S}s\n"
            f"  evaluation_interval: {SCRAPE_INTERVAL_S}s\n"
            "scrape_configs:\n  - job_name: loadnb\n    file_sd_configs:\n"
            f"      - files: ['{self.targets}']\n        refresh_interval: 1s\n")
        return config

    def __enter__(self) -> Prometheus:
        log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self._config()}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("prometheus exited: " + self.log()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("prometheus was not ready within 60 s: " + self.log()[-2000:])

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        """What prometheus wrote (warnings and errors)."""
        path = self.dir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def scrape(self, *targets: str) -> None:
        """Scrape these ``host:port`` targets (``/metrics``) from now on, and no other."""
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": list(targets), "labels": {}}]))
        tmp.replace(self.targets)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """The result vector of an instant query (``[{"metric": {...}, "value": [t, "v"]}]``);
        AssertionError when Prometheus answers an error (a bad expression)."""
        async with aiohttp.ClientSession() as session:
            async with session.get(self.url + "/api/v1/query", params={"query": expr},
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
                body = await resp.json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    async def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when its result is empty."""
        result = await self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    async def value_becomes(self, expr: str, want: float, timeout: float = 30) -> None:
        """Wait until the instant query ``expr`` reads ``want`` (it scrapes every second)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got = await self.value(expr)
        while got != want:
            if loop.time() > deadline:
                raise AssertionError(f"{expr} is {got}, not {want}, after {timeout:g} s")
            await asyncio.sleep(0.25)
            got = await self.value(expr)
