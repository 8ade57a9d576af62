"""HTTP/2 benchmark: loadnb's HTTP/2 transport against ``h2load`` and httpx's HTTP/2 path, in the
same run, over TLS (h2) and cleartext (h2c), 64 connections x 10 streams, one generator core.

    .venv/bin/python benchmarks/h2.py                 # 3 rounds of 5 s each (about 3 minutes)
    .venv/bin/python benchmarks/h2.py --rounds 1 --seconds 2    # a quick look
    .venv/bin/python benchmarks/h2.py --nice -10      # as root on a busy shared machine
    .venv/bin/python benchmarks/h2.py --scenario --rounds 3 --seconds 3   # scenarios over h2c

nginx (one worker, no access log, ``listen ... ssl http2`` and ``listen ... http2``) is pinned to
core 1, every generator to core 0, or where ``--cores G,S`` says (benchmarks/pinning.py). Rounds
interleave the generators, so a slow drift of a shared machine hits them alike; the primary
figure is requests per second of the generator's own CPU time (the machine's load average is
printed with each round), ratios are taken within a round and their median printed. Generators:

- ``h2load -c 64 -m 10 -t 1`` (nghttp2's C client: the reference);
- ``loadnb``: a closed-model run of 640 users through ``Run`` with the HTTP/2 transport
  (64 connections x 10 streams), recorder and monitor included;
- ``httpx``: 64 ``httpx.AsyncClient(http2=True)`` with 10 tasks each (needs httpx and h2).

``--scenario``: a scenario (a checked GET, then a POST of a JSON body) over h2c, 64 connections x
10 journeys, by each HTTP/2 implementation that could carry scenarios and over HTTP/1.1 (nginx's
cleartext HTTP/1.1 port): ``loadnb-h2`` and ``loadnb-h1`` are whole scenario runs, ``own`` /
``h2lib`` / ``httpx`` the client layer alone (benchmarks/h2scenario.py says what each is).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the package by its name
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    Measured,
    _wait_with_rusage,
    die_with_parent,
    free_port,
    median,
    run_child,
)
from benchmarks.h2child import CONNECTIONS, STREAMS  # noqa: E402
from benchmarks.pinning import (  # noqa: E402
    CORES,
    add_pinning_options,
    apply_pinning_options,
    find_tool,
    pinned,
    pinning_note,
)

NGINX_CONF = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    fastcgi_temp_path {tmp};
    uwsgi_temp_path {tmp};
    scgi_temp_path {tmp};
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        listen 127.0.0.1:{h2c} http2;
        listen 127.0.0.1:{h1};
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        location = / {{ return 200 "OK"; }}
    }}
}}
"""


class H2Nginx:
    """nginx with an h2 (TLS) and an h2c listener, pinned to the server core."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="loadnb-bench-h2-"))
        self.tls_port, self.h2c_port, self.h1_port = free_port(), free_port(), free_port()
        self.urls = {"h2": f"https://127.0.0.1:{self.tls_port}/",
                     "h2c": f"http://127.0.0.1:{self.h2c_port}/"}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> H2Nginx:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                        str(self.tmp / "key.pem"), "-out", str(self.tmp / "cert.pem"), "-days",
                        "2", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(user=user, tmp=self.tmp, tls=self.tls_port,
                                          h2c=self.h2c_port, h1=self.h1_port))
        argv = [find_tool("nginx") or "nginx", "-p", str(self.tmp), "-c", str(conf),
                "-e", str(self.tmp / "error.log")]
        self.proc = subprocess.Popen(pinned(CORES.server, argv), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {(self.tmp / 'error.log').read_text()}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)


_H2LOAD_DONE = re.compile(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                          r"(\d+) failed")
_H2LOAD_TIME = re.compile(r"finished in ([\d.]+)s")


def run_h2load(url: str, seconds: float) -> Measured:
    argv = pinned(CORES.generator, [find_tool("h2load") or "h2load", "-c", str(CONNECTIONS),
                                   "-m", str(STREAMS), "-t", "1", "-D", str(int(seconds)), url])
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_parent)
        cpu = _wait_with_rusage(proc, seconds + 60)
        out.seek(0)
        text = out.read().decode(errors="replace")
    done, took = _H2LOAD_DONE.search(text), _H2LOAD_TIME.search(text)
    if proc.returncode != 0 or done is None or took is None:
        raise RuntimeError(f"h2load failed ({proc.returncode}): {text[-2000:]}")
    return Measured(int(done.group(4)), float(took.group(1)), cpu,
                    {"failed": int(done.group(5))})


# -- the parent -------------------------------------------------------------------------------
def measure(kind: str, url: str, seconds: float, h1_url: str = "") -> Measured:
    if kind == "h2load":
        return run_h2load(url, seconds)
    module = "benchmarks.h2scenario" if h1_url else "benchmarks.h2child"
    result = run_child(kind, {"url": url, "h1_url": h1_url, "seconds": seconds},
                       seconds * 3 + 60, module=module)
    return Measured(int(result["requests"]), float(result["seconds"]), float(result["cpu"]),
                    result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    add_pinning_options(parser)
    parser.add_argument("--no-httpx", action="store_true", help="leave httpx out")
    parser.add_argument("--scenario", action="store_true",
                        help="a scenario over h2c by each implementation, and over HTTP/1.1")
    args = parser.parse_args(argv)
    apply_pinning_options(parser, args)
    if args.scenario:
        return scenarios(args)
    kinds = ["h2load", "loadnb"] + ([] if args.no_httpx else ["httpx"])
    print(f"HTTP/2, {CONNECTIONS} connections x {STREAMS} streams; {pinning_note()}")
    runs: dict[tuple[str, str], list[Measured]] = {}
    with H2Nginx() as nginx:
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}: load average {os.getloadavg()[0]:.1f}", flush=True)
            for proto, url in nginx.urls.items():
                for kind in kinds:
                    m = measure(kind, url, args.seconds)
                    runs.setdefault((proto, kind), []).append(m)
                    print(f"  {proto:4} {kind:7} {m.rate:10,.0f} req/s {m.per_cpu_second:10,.0f}"
                          f" req/CPU-s  (cpu {m.cpu:.2f} s / {m.seconds:.2f} s, failed "
                          f"{m.extra.get('failed', 0)})", flush=True)
    report(runs, kinds)
    return 0


def report(runs: dict[tuple[str, str], list[Measured]], kinds: list[str]) -> None:
    print("\nmedians (requests per CPU-second of the generator; ratios within each round):")
    for proto in ("h2", "h2c"):
        for kind in kinds:
            ms = runs[(proto, kind)]
            print(f"  {proto:4} {kind:7} {median(m.per_cpu_second for m in ms):10,.0f} req/CPU-s"
                  f" {median(m.rate for m in ms):10,.0f} req/s")
        ours = runs[(proto, "loadnb")]
        for other in kinds:
            if other == "loadnb":
                continue
            theirs = runs[(proto, other)]
            pairs = list(zip(ours, theirs, strict=True))
            cpu = median(a.per_cpu_second / b.per_cpu_second for a, b in pairs)
            wall = median(a.rate / b.rate for a, b in pairs)
            print(f"  {proto:4} loadnb/{other:7} {cpu:.2f} per CPU-second, {wall:.2f} req/s")


SCENARIO_KINDS = ["loadnb-h2", "loadnb-h1", "own", "h2lib", "httpx"]


def scenarios(args: argparse.Namespace) -> int:
    """``--scenario``: every kind of benchmarks/h2scenario.py, rounds interleaved."""
    kinds = [k for k in SCENARIO_KINDS if not (args.no_httpx and k == "httpx")]
    print(f"scenario (GET + POST JSON) over h2c, {CONNECTIONS} connections x {STREAMS} "
          f"journeys; {pinning_note()}")
    runs: dict[str, list[Measured]] = {}
    with H2Nginx() as nginx:
        h1_url = f"http://127.0.0.1:{nginx.h1_port}/"
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}: load average {os.getloadavg()[0]:.1f}", flush=True)
            for kind in kinds:
                m = measure(kind, nginx.urls["h2c"], args.seconds, h1_url)
                runs.setdefault(kind, []).append(m)
                print(f"  {kind:9} {m.rate:9,.0f} req/s {m.per_cpu_second:9,.0f} req/CPU-s  "
                      f"(cpu {m.cpu:.2f} s / {m.seconds:.2f} s, failed "
                      f"{m.extra.get('failed', 0)})", flush=True)
    print("\nmedians (requests per CPU-second of the generator; ratios within each round):")
    for kind in kinds:
        print(f"  {kind:9} {median(m.per_cpu_second for m in runs[kind]):9,.0f} req/CPU-s "
              f"{median(m.rate for m in runs[kind]):9,.0f} req/s")
    for ours, other in [("own", "h2lib"), ("own", "httpx"), ("loadnb-h2", "loadnb-h1")]:
        if ours in runs and other in runs:
            pairs = zip(runs[ours], runs[other], strict=True)
            ratio = median(a.per_cpu_second / b.per_cpu_second for a, b in pairs)
            print(f"  {ours}/{other}: {ratio:.2f} per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
