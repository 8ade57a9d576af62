"""A private nginx on 127.0.0.1 speaking HTTP/2 for the HTTP/2 tests (a context manager).

Certificates are made by the ``openssl`` CLI in the temp dir: a test CA, a server certificate it
signed for ``127.0.0.1`` and :data:`SERVICE_HOST` (a name that is never resolved: the tests reach
it with ``connect_to``), and a client certificate it signed. Server blocks, each on its own port
(:attr:`H2Nginx.ports`):

- ``h2``: TLS, ALPN h2 (``listen ... ssl http2``);
- ``h2c``: cleartext HTTP/2 with prior knowledge (``listen ... http2``);
- ``h1tls``: TLS without http2 (ALPN offers http/1.1 only: the fall-back);
- ``mtls``: TLS h2 with ``ssl_verify_client on`` (the client certificate is required);
- ``goaway``: h2c with ``keepalive_requests 7``: nginx says GOAWAY after 7 requests on a connection.

Locations: ``/`` -> 200 "OK"; ``/static/big.bin`` (:data:`BIG` bytes); ``/missing`` -> 404.
Each access-log line: ``port protocol method uri status body_bytes connection host``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .nginx import _free_port, _listening, find_nginx, settled

if TYPE_CHECKING:
    from loadnb.results.result import Result

BIG = 1024 * 1024 + 17
SERVICE_HOST = "svc.loadnb.test"
SERVERS = ("h2", "h2c", "h1tls", "mtls", "goaway")


@dataclass(frozen=True)
class Line:
    """One access-log line."""

    port: int
    protocol: str  # HTTP/2.0, HTTP/1.1
    method: str
    uri: str
    status: int
    body_bytes: int
    connection: int
    host: str


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def make_pki(d: Path) -> None:
    """ca.pem/ca.key, server.pem/server.key (127.0.0.1, SERVICE_HOST), client.pem/client.key."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"),
             "-days", "2", "-subj", "/CN=loadnb test CA")
    exts = {"server": f"subjectAltName=IP:127.0.0.1,DNS:{SERVICE_HOST}\n"
                      "extendedKeyUsage=serverAuth\n",
            "client": "extendedKeyUsage=clientAuth\n"}
    for name, ext in exts.items():
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"),
                 "-subj", f"/CN=loadnb test {name}")
        _openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"),
                 "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
                 "-out", str(d / f"{name}.pem"), "-extfile", str(d / f"{name}.ext"))


_LOCATIONS = """
        location = / {{ return 200 "OK"; }}
        location = /missing {{ return 404 "not here"; }}
        location /static/ {{ alias {root}/www/; }}
"""
_TLS = """
        ssl_certificate {root}/server.pem;
        ssl_certificate_key {root}/server.key;
"""
_CONF = """
{user}
worker_processes 1;
daemon off;
master_process on;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    default_type application/octet-stream;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    log_format h2 '$server_port $server_protocol $request_method $request_uri $status '
                  '$body_bytes_sent $connection $host';
    access_log {root}/access.log h2;
    keepalive_requests 100000;
    server {{ listen 127.0.0.1:{h2} ssl http2; {tls} {locations} }}
    server {{ listen 127.0.0.1:{h2c} http2; {locations} }}
    server {{ listen 127.0.0.1:{h1tls} ssl; {tls} {locations} }}
    server {{
        listen 127.0.0.1:{mtls} ssl http2; {tls}
        ssl_verify_client on;
        ssl_client_certificate {root}/ca.pem;
        {locations}
    }}
    server {{ listen 127.0.0.1:{goaway} http2; keepalive_requests 7; {locations} }}
}}
"""


class H2Nginx:
    """``with H2Nginx() as ng: ng.url("h2")``; raises RuntimeError if it cannot start."""

    def __init__(self) -> None:
        binary = find_nginx()
        if binary is None or shutil.which("openssl") is None:
            raise RuntimeError("nginx and openssl are needed")
        self.binary = binary
        self._tmp = tempfile.TemporaryDirectory(prefix="loadnb-h2nginx-")
        self.root = Path(self._tmp.name)
        self.ports: dict[str, int] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, server: str, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "http" if server in ("h2c", "goaway") else "https"
        return f"{scheme}://{host}:{self.ports[server]}{path}"

    def file(self, name: str) -> str:
        return str(self.root / name)

    def __enter__(self) -> H2Nginx:
        try:
            (self.root / "www").mkdir()
            (self.root / "tmp").mkdir()
            (self.root / "www" / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256)
                                                        + b"x" * (BIG % 256))
            make_pki(self.root)
            for _ in range(3):  # a picked free port can be taken meanwhile: retry
                if self._start():
                    return self
            raise RuntimeError(f"nginx did not start: {self.error_log()[-2000:]}")
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> bool:
        self.ports = {name: _free_port() for name in SERVERS}
        root = str(self.root)
        conf = _CONF.format(user="user root root;" if os.geteuid() == 0 else "", root=root,
                            tls=_TLS.format(root=root),
                            locations=_LOCATIONS.format(root=root), **self.ports)
        path = self.root / "nginx.conf"
        path.write_text(conf)
        self._proc = subprocess.Popen(
            [self.binary, "-p", root, "-c", str(path), "-e", str(self.root / "error.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if all(_listening(p) for p in self.ports.values()):
                return True
            time.sleep(0.01)
        self._kill()
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __exit__(self, *exc: object) -> None:
        self._kill()
        self._tmp.cleanup()

    def error_log(self) -> str:
        path = self.root / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def lines(self, server: str, settle: float = 0.15, timeout: float = 3.0) -> list[Line]:
        """The access-log lines of ``server``'s port, once the log stops growing."""
        path = settled(self.root / "access.log", settle, timeout)
        out = []
        for text in (path.read_text().splitlines() if path.exists() else []):
            port, proto, method, uri, status, nbytes, conn, host = text.split(" ")
            out.append(Line(int(port), proto, method, uri, int(status), int(nbytes), int(conn),
                            host))
        return [line for line in out if line.port == self.ports[server]]


def counts(result: Result) -> tuple[int, int, dict[str, int]]:
    """A run's completed and failed requests and its errors by kind, to compare with the log."""
    s = result.summary
    return s["completed_requests"], s["failed_requests"], dict(s["errors"])
