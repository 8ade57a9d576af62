"""A private nginx on 127.0.0.1 for tests, in a temporary directory (use as a context manager).

Everything lives in the temp dir: config, pid file, temp paths, error log and one access log with
one line per request nginx handled, so a test can count what the server received and compare it
with loadnb's accounting. Three server blocks, each on its own free port:

- ``url`` (keep-alive 60 s): ``/`` → ``200 "OK"``; ``/static/small.txt`` (``SMALL`` bytes) and
  ``/static/big.bin`` (``BIG`` bytes, 5 MiB) served with ``Content-Length``; the same files under
  ``/chunked/`` come back with ``Transfer-Encoding: chunked`` (a no-op ``sub_filter`` removes the
  length, so nginx has to chunk).
- ``idle_url``: the same locations with ``keepalive_timeout 1s``: nginx closes idle keep-alive
  connections after a second.
- ``tls_url`` (https, self-signed certificate for 127.0.0.1 made with the ``openssl`` CLI): the same
  locations; ``None`` when ``openssl`` is missing.

Each access-log line is ``port method uri status body_bytes connection_serial
connection_requests msec "Connection header"``; :meth:`Nginx.requests` parses them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SMALL = 1_000
BIG = 5 * 1024 * 1024


def find_nginx() -> str | None:
    """The nginx binary (PATH, then Debian's /usr/sbin), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@dataclass(frozen=True)
class Logged:
    """One access-log line: one request nginx received and finished."""

    port: int
    method: str
    uri: str
    status: int
    body_bytes: int
    connection: int  # nginx's connection serial number
    connection_requests: int  # requests made on that connection so far, this one included
    time: float  # when nginx finished it (Unix time, ms resolution)
    connection_header: str  # the request's Connection header, "-" if none


def settled(path: Path, settle: float, timeout: float, step: float = 0.02) -> Path:
    """``path`` once it has not grown for ``settle`` seconds (at most ``timeout``): nginx writes
    a log line when it finishes a request, which can be a moment after the client has the last
    byte."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size != last:
            last, since = size, time.monotonic()
        elif time.monotonic() - since >= settle:
            break
        time.sleep(step)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_cert(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 in ``directory``: ``(cert.pem, key.pem)``, or None
    without the ``openssl`` CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=loadnb-test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return cert, key


_LOCATIONS = """
        location = / {{ return 200 "OK"; }}
        location /static/ {{ alias {root}/www/; }}
        location /chunked/ {{
            alias {root}/www/;
            gzip off;
            chunked_transfer_encoding on;
            sub_filter_types *;
            sub_filter_once off;
            sub_filter "@@never-there@@" "";
        }}
"""

_CONF = """
{user}
worker_processes 1;
daemon off;
master_process on;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    log_format counted '$server_port $request_method $request_uri $status $body_bytes_sent '
                       '$connection $connection_requests $msec "$http_connection"';
    access_log {root}/access.log counted;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        keepalive_timeout 60s;
{locations}
    }}
    server {{
        listen 127.0.0.1:{idle_port};
        keepalive_timeout 1s;
{locations}
    }}
{tls}
}}
"""

_TLS = """
    server {{
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {root}/cert.pem;
        ssl_certificate_key {root}/key.pem;
        keepalive_timeout 60s;
{locations}
    }}
"""


class Nginx:
    """A private nginx (``with Nginx() as ng: ng.url``). Raises RuntimeError if it won't start."""

    def __init__(self, binary: str | None = None) -> None:
        binary = binary or find_nginx()
        if binary is None:
            raise RuntimeError("nginx is not installed")
        self.binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="loadnb-nginx-")
        self.root = Path(self._tmp.name)
        self.port = self.idle_port = self.tls_port = 0
        self.has_tls = False
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def idle_url(self) -> str:
        return f"http://127.0.0.1:{self.idle_port}/"

    @property
    def tls_url(self) -> str | None:
        return f"https://127.0.0.1:{self.tls_port}/" if self.has_tls else None

    # -- life --------------------------------------------------------------------------------
    def __enter__(self) -> Nginx:
        try:
            self._prepare()
            for attempt in range(3):  # a picked free port can be taken meanwhile: retry
                if self._start():
                    return self
                if attempt == 2:
                    raise RuntimeError(f"nginx did not start: {self.error_log()[-2000:]}")
        except BaseException:
            self.__exit__()
            raise
        raise AssertionError("unreachable")

    def __exit__(self, *exc: object) -> None:
        self._kill()
        self._tmp.cleanup()

    def _prepare(self) -> None:
        www = self.root / "www"
        www.mkdir()
        (www / "small.txt").write_bytes(b"s" * (SMALL - 1) + b"\n")
        (www / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / "tmp" / sub).mkdir(parents=True)
        self.has_tls = make_cert(self.root) is not None

    def _start(self) -> bool:
        self.port, self.idle_port, self.tls_port = _free_port(), _free_port(), _free_port()
        root = str(self.root)
        locations = _LOCATIONS.format(root=root)
        tls = _TLS.format(root=root, tls_port=self.tls_port, locations=locations)
        conf = _CONF.format(
            user="user root root;" if os.geteuid() == 0 else "", root=root, port=self.port,
            idle_port=self.idle_port, locations=locations, tls=tls if self.has_tls else "")
        path = self.root / "nginx.conf"
        path.write_text(conf)
        log = self.root / "error.log"
        self._proc = subprocess.Popen(
            [self.binary, "-p", root, "-c", str(path), "-e", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ports = [self.port, self.idle_port] + ([self.tls_port] if self.has_tls else [])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if all(_listening(p) for p in ports):
                return True
            time.sleep(0.01)
        self._kill()
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: fast shutdown of master and worker
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # -- what nginx saw ----------------------------------------------------------------------
    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def requests(self, port: int | None = None, *, settle: float = 0.15,
                 timeout: float = 3.0) -> list[Logged]:
        """Requests nginx logged (on ``port``, default all), once the log stops growing.

        nginx writes a line when it finishes a request, which can be a moment after the client
        has the last byte: wait until the log has not changed for ``settle`` seconds.
        """
        path = settled(self.root / "access.log", settle, timeout)
        lines = path.read_text().splitlines() if path.exists() else []
        out = [_parse(line) for line in lines]
        return [r for r in out if port is None or r.port == port]


def _parse(line: str) -> Logged:
    head, _, quoted = line.partition(' "')
    port, method, uri, status, nbytes, conn, conn_reqs, msec = head.split(" ")
    return Logged(int(port), method, uri, int(status), int(nbytes), int(conn), int(conn_reqs),
                  float(msec), quoted.rstrip('"'))


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
