"""The dashboard app (``loadnb app``, ``make voila``): a notebook shipped with the package that
shows the widget at once and runs nothing until Start; in Voila, driven by headless Chromium.

Load goes only to the demo server on 127.0.0.1 that the app starts; runs are bounded (20 s, 3
users) and stopped by the test; Voila and its kernel are killed at the end (their process group).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from loadnb.app import NOTEBOOK
from loadnb.cli import command as cli
from tests.browser.jupyter import (
    ARTIFACTS,
    free_port,
    isolated_env,
    server,
)

ROOT = Path(__file__).resolve().parents[2]
#: The widget's live line ("🔄 Running... 12.0% | ... | Completed: 1,234").
LINE_JS = """() => {
  for (const el of document.querySelectorAll('.widget-html')) {
    const t = el.innerText;
    if (t.includes('Completed:') && t.includes('| Active:')) return t;
  }
  return '';
}"""
BADGE_JS = """() => {
  const el = document.querySelector('.loadnb-state');
  return el ? el.innerText : '';
}"""


def _code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code"]


def test_the_app_notebook_is_package_data_and_awaits_no_run() -> None:
    assert NOTEBOOK.is_file() and NOTEBOOK.parent.name == "app"
    cells = _code(NOTEBOOK)
    source = "\n".join(cells)
    # the only awaits start the demo server (a fraction of a second), never a run
    awaits = [line.split("#")[0].strip() for line in source.splitlines() if "await " in line]
    assert awaits == ["await asyncio.sleep(0)", "url = url or await demo"], awaits
    assert "demo = None if url else asyncio.ensure_future(loadnb.demo.start(" in source
    assert not re.search(r"\.(run|wait)\(", source)
    assert "test.start()" in source and "LOADNB_APP_START" in source
    assert "LOADNB_APP_URL" in source and source.rstrip().endswith("test")
    assert "app/app.ipynb" in (ROOT / "pyproject.toml").read_text()  # shipped in the wheel
    assert "loadnb app" in (ROOT / "Makefile").read_text()  # make voila serves the same file


def test_loadnb_app_runs_voila_on_loopback_with_the_app(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str], dict[str, Any]]] = []

    class Proc:
        pid = 0

        def __init__(self, cmd: list[str], env: dict[str, str], **kwargs: Any) -> None:
            calls.append((cmd, env, kwargs))

        def wait(self, timeout: float | None = None) -> int:
            return 0

    monkeypatch.setattr("subprocess.Popen", Proc)
    monkeypatch.setattr("loadnb.app.serve.port_problem", lambda port: None)  # 8866 may be busy
    monkeypatch.delenv("LOADNB_APP_URL", raising=False)
    monkeypatch.delenv("LOADNB_APP_START", raising=False)
    assert cli.main(["app", "http://127.0.0.1:8000/x", "--start", "--port", "9123",
                     "--no-browser"]) == 0
    cmd, env, kwargs = calls[-1]
    assert cmd[:3] == [sys.executable, "-m", "voila"] and cmd[-1] == str(NOTEBOOK)
    assert "--port=9123" in cmd and "--Voila.ip=127.0.0.1" in cmd and "--no-browser" in cmd
    assert "--Voila.port_retries=0" in cmd  # it serves the port it was given, or none
    assert not any("preheat" in part for part in cmd)  # --start: no run in a kernel nobody sees
    assert kwargs.get("start_new_session") is True  # its own group: signalled as one
    assert env["LOADNB_APP_URL"] == "http://127.0.0.1:8000/x" and env["LOADNB_APP_START"] == "1"
    assert cli.main(["app"]) == 0
    cmd, env, _ = calls[-1]
    assert "--port=8866" in cmd and "--no-browser" not in cmd
    assert "--VoilaConfiguration.preheat_kernel=True" in cmd  # a kernel ready before the page
    assert "LOADNB_APP_URL" not in env and "LOADNB_APP_START" not in env
    assert cli.main(["app", "ftp://nope"]) == 2 and len(calls) == 2  # bad URL: nothing started


@pytest.mark.parametrize("port", ["busy", "0", "70000"])
def test_a_busy_or_impossible_port_is_bad_input_before_voila_starts(
        port: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr("subprocess.Popen", lambda cmd, **kw: started.append(cmd))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        number = str(held.getsockname()[1]) if port == "busy" else port
        assert cli.main(["app", "--port", number, "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert started == [] and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("loadnb: error: ") and "--port" in err, err
    if port == "busy":
        assert f"port {number} on 127.0.0.1 is in use" in err, err


def _completed(line: str) -> int:
    match = re.search(r"Completed: ([\d,]+)", line)
    assert match, line
    return int(match.group(1).replace(",", ""))


def _app(tmp_path: Path, *extra: str, start: bool = False) -> tuple[list[str], dict[str, str],
                                                                      str]:
    env = isolated_env(tmp_path)
    env.update(LOADNB_APP_USERS="3", LOADNB_APP_DURATION="20s")  # bounded: 20 s at most
    env.pop("LOADNB_APP_URL", None)  # the demo server on 127.0.0.1
    env.pop("LOADNB_APP_START", None)
    port = free_port()
    args = [sys.executable, "-m", "loadnb", "app", "--port", str(port), "--no-browser",
            *(["--start"] if start else []), *extra]
    return args, env, f"http://127.0.0.1:{port}"


#: The tick labels of every numeric axis the page has drawn, and each axis's formatter.
AXES_JS = """() => {
  const out = [];
  if (!window.Bokeh || !Bokeh.index) return out;
  for (const view of Bokeh.index.query(() => true)) {
    const m = view.model;
    if (!m.type || !m.type.endsWith('Axis') || m.type === 'CategoricalAxis') continue;
    const labels = view.compute_labels(view.tick_coords.major[view.dimension]);
    out.push([m.formatter.type, labels.items.map(l => l.text)]);
  }
  return out;
}"""


def _time_to_start(browser: Any, base: str) -> tuple[Any, float]:
    """A new page at ``base``: the seconds from its request to a visible Start button.

    Measured and printed, not asserted (the machine is shared and noisy: the project's rule for
    speed); the bound only catches a hang."""
    page = browser.new_page(viewport={"width": 1300, "height": 1200})
    opened = time.monotonic()
    page.goto(f"{base}/", timeout=60_000, wait_until="commit")
    page.locator(".widget-button", has_text="Start").first.wait_for(timeout=60_000)
    return page, time.monotonic() - opened


@pytest.mark.slow
@pytest.mark.browser
def test_app_shows_the_widget_at_once_then_start_streams_and_stop_stops(
        browser: Any, tmp_path: Path) -> None:
    args, env, base = _app(tmp_path)
    with server(args, cwd=tmp_path, env=env, url=f"{base}/voila/static/",
                log=tmp_path / "voila.log"):
        # asked for as soon as Voila answers, as `loadnb app` opens the browser
        page, first_page = _time_to_start(browser, base)
        try:
            time.sleep(1.0)  # nothing runs until Start
            assert "Ready" in page.evaluate(LINE_JS) and page.evaluate(BADGE_JS) == "READY"
            page.locator(".widget-button", has_text="Start").first.click()
            page.wait_for_function(f"() => ({LINE_JS})().includes('Running')", timeout=10_000)
            page.wait_for_function(f"() => /Completed: [1-9]/.test(({LINE_JS})())",
                                   timeout=10_000)
            first = _completed(page.evaluate(LINE_JS))
            page.wait_for_function(rf"""() => Number((/Completed: ([\d,]+)/.exec(({LINE_JS})())
                || [0, '0'])[1].replace(/,/g, '')) > {first}""", timeout=10_000)
            line = page.evaluate(LINE_JS)
            assert "Running" in line and _completed(line) > first, (first, line)
            assert page.evaluate(BADGE_JS) == "RUNNING"
            page.screenshot(path=str(tmp_path / "app-running.png"), full_page=True)
            axes = page.evaluate(AXES_JS)  # the widget's axes, drawn by BokehJS in the page
            assert len(axes) >= 8 and {kind for kind, _ in axes} == {"CustomJSTickFormatter"}
            labels = [text for _, texts in axes for text in texts]
            assert labels and not [t for t in labels if re.search(r"\de[+-]?\d", t)], axes
            page.locator(".widget-button", has_text="Stop").first.click()
            page.get_by_text("Stopped after").first.wait_for(timeout=10_000)
            assert "Stopped" in page.evaluate(LINE_JS)
            assert page.evaluate(BADGE_JS) == "STOPPED"
            assert "Traceback" not in page.inner_text("body")
        finally:
            page.close()
        page, reload = _time_to_start(browser, base)  # a new page: a kernel made ready for it
        page.close()
    print(f"app: the Start button showed {first_page:.2f} s after the first page was asked for "
          f"(as Voila started), {reload:.2f} s after the next")
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "screenshots" / "app-running.png").write_bytes(
        (tmp_path / "app-running.png").read_bytes())


@pytest.mark.slow
@pytest.mark.browser
def test_app_with_start_streams_as_the_page_opens(browser: Any, tmp_path: Path) -> None:
    args, env, base = _app(tmp_path, start=True)
    with server(args, cwd=tmp_path, env=env, url=f"{base}/voila/static/",
                log=tmp_path / "voila.log"):
        page = browser.new_page(viewport={"width": 1300, "height": 1200})
        try:
            page.goto(f"{base}/", timeout=30_000, wait_until="commit")
            page.locator(".widget-button", has_text="Stop").first.wait_for(timeout=30_000)
            page.wait_for_function(f"() => /Running.*Completed: [1-9]/.test(({LINE_JS})())",
                                   timeout=10_000)
            assert page.evaluate(BADGE_JS) == "RUNNING"
            page.locator(".widget-button", has_text="Stop").first.click()
            page.get_by_text("Stopped after").first.wait_for(timeout=10_000)
        finally:
            page.close()


def _tree(pid: int) -> list[Any]:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _gone(procs: list[Any], timeout: float) -> list[str]:
    """The processes of ``procs`` still running (zombies count as gone) after ``timeout``."""
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=timeout)
    out = []
    for p in alive:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {' '.join(p.cmdline()[:4])}")
        except psutil.NoSuchProcess:
            pass
    return out


def _kill(procs: list[Any]) -> None:
    import psutil

    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def _wait_for(proc: subprocess.Popen[bytes], kernels: int, deadline: float,
              log: Path) -> list[Any]:
    """The process tree of ``proc`` once it holds ``kernels`` kernels, each with its demo
    server (bounded by ``deadline``)."""
    while True:
        assert proc.poll() is None, log.read_text()
        kids = _tree(proc.pid)
        names = [" ".join(k.cmdline()) for k in kids]
        if (sum("ipykernel" in n for n in names) >= kernels
                and sum("loadnb.demo" in n for n in names) >= kernels):
            assert any("voila" in n for n in names), names
            return kids
        assert time.monotonic() < deadline, (names, log.read_text())
        time.sleep(0.25)


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "page"), [
    (signal.SIGTERM, True), (signal.SIGHUP, False), (signal.SIGINT, False),
    pytest.param(signal.SIGKILL, False, marks=pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="Linux's parent-death signal"))],
    ids=["SIGTERM", "SIGHUP", "SIGINT", "SIGKILL"])
def test_a_signal_ends_the_app_with_everything_it_started(
        signum: signal.Signals, page: bool, tmp_path: Path) -> None:
    """Voila, its kernels and the demo servers the app notebook started: all gone, the port
    closed, the exit status 128 + the signal's number. The signal goes to ``loadnb app`` alone
    (as ``kill PID`` or a closed terminal's SIGHUP would), not to its process group.

    Voila starts a kernel at once (kept ready for the first page: preheated); with ``page``,
    the page is asked for (it takes that kernel) and Voila starts the next one. SIGKILL cannot
    be caught: on Linux, Voila is told to end when ``loadnb app`` dies all the same."""
    import urllib.request

    args, env, base = _app(tmp_path)
    port = int(base.rsplit(":", 1)[1])
    log = tmp_path / "app.log"
    kids: list[Any] = []
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            kids = _wait_for(proc, 1, deadline, log)
            if page:
                with urllib.request.urlopen(f"{base}/", timeout=60) as got:  # noqa: S310
                    assert b"loadnb" in got.read()
                kids = _wait_for(proc, 2, deadline, log)
            proc.send_signal(signum)
            expected = -signum if signum == signal.SIGKILL else 128 + signum  # none caught
            assert proc.wait(60) == expected, log.read_text()
            assert _gone(kids, timeout=30) == [], log.read_text()
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed
        finally:  # whatever is left when the test failed
            _kill([*kids, *(_tree(proc.pid) if proc.poll() is None else [])])
            proc.kill()
            proc.wait()
