"""An isolated Jupyter environment, Lab/Voila server processes and probes into the page.

Nothing leaks into the user's Jupyter setup: config, data (kernelspecs), runtime and workspaces
live in a temporary directory, the notebooks are fresh copies (Lab autosaves outputs), and the
announcements extension is disabled so no news popup covers the page.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

#: Rows per dashboard source found in the page's Bokeh documents (the largest of each kind).
POINTS_JS = """() => {
  const out = {overview: -1, latency: -1, errors: -1, timeline: -1};
  if (!window.Bokeh || !window.Bokeh.documents) return out;
  const kinds = {overview: 'target_users', latency: 'p90_ms', errors: 'kind0',
                 timeline: 'failed_requests'};
  for (const doc of window.Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.type !== 'ColumnDataSource') continue;
      const data = m.data;
      const has = (k) => data instanceof Map ? data.has(k) : (k in data);
      const get = (k) => data instanceof Map ? data.get(k) : data[k];
      for (const [name, key] of Object.entries(kinds)) {
        if (has(key) && has('elapsed_time')) {
          out[name] = Math.max(out[name], get('elapsed_time').length);
        }
      }
    }
  }
  return out;
}"""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def isolated_env(root: Path) -> dict[str, str]:
    """Environment variables for a Jupyter server whose every directory is under ``root``.

    The ``python3`` kernelspec runs this interpreter (the venv's), whatever ``python`` is on PATH.
    """
    config, data, runtime = root / "config", root / "data", root / "runtime"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    kernel = data / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (loadnb tests)", "language": "python"}))
    runtime.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(data),
               JUPYTER_RUNTIME_DIR=str(runtime), JUPYTER_PLATFORM_DIRS="0",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("JUPYTER_PATH", None)
    return env


def copy_notebooks(dest: Path) -> Path:
    """Fresh copies of the repository's notebooks in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for nb in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(nb, dest / nb.name)
    return dest


@contextmanager
def server(args: list[str], *, cwd: Path, env: dict[str, str], url: str, log: Path,
           timeout: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process (its own process group) until ``url`` answers; stop it afterwards.

    Any HTTP answer counts, even an error status: probe a URL that does no work.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[:3]} exited early:\n{log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback
                        break
                except urllib.error.HTTPError:  # it answers: up (e.g. 404 for a probe URL)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} not up after {timeout} s:\n"
                                           f"{log.read_text()[-3000:]}") from None
                    time.sleep(0.25)
            yield proc
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (its kernels shut down with it), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    # kernels are in the same process group: make sure none is left behind
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
