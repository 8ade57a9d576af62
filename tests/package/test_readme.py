"""The README runs: every fenced ``python`` and ``bash`` block of README.md meant to run is run
here, against the demo server, and the test fails (naming the block's line) when one breaks.

**Which blocks.** Every block fenced with ```` ```python ```` or ```` ```bash ````, except one whose
fence is right after a line ``<!-- readme-test: skip (REASON) -->`` (a server that runs until
stopped, a cluster of your own); a marker without a reason, or not right before such a fence,
fails :func:`test_every_block_runs_or_says_why_not`.

**How python blocks run.** In one namespace, in the README's order, ``url`` bound to the demo
server (the session's ``demo_url``) to begin with, in a temporary directory with a history
database of their own (``LOADNB_HISTORY``). A notebook-style block (a top-level ``await``) is
compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT``, as IPython does: the block becomes a coroutine,
the async wrapper, run on one event loop kept for all blocks, whose assignments land in the
namespace as a notebook cell's do. The other blocks run as a script does (no loop running, so
``loadnb.run`` blocks). A block's last expression is shown as a notebook shows it
(``_repr_html_``, else ``repr``). After each block every ``Result`` in the namespace must have
judged each of its thresholds: one that observed nothing names a request (or metric) the run
does not have. A demo server a block starts is stopped at the end.

**How bash blocks run.** In order, each with ``bash -euo pipefail`` in one temporary directory
(with its own history database), ``loadnb`` being the CLI of this venv (its ``bin`` first on
``PATH``, this checkout first on ``PYTHONPATH``). A block fails on the first command that fails
(exit status 3, a failed threshold, included).

**Substitutions, so the README runs in seconds against the demo server.** ``http://127.0.0.1:8000``
becomes the demo's URL. Durations are shortened: in python blocks a duration string longer than
one second (``"30s"``, ``"10s"``, ``"1m"``) becomes ``"1s"``; in bash blocks the value of
``--duration``, ``-d`` and ``--step-duration`` becomes ``1s``. Nothing else is changed.

Beside it, ARCHITECTURE.md must name every module of the package
(:func:`test_architecture_names_every_module`).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_URL = "http://127.0.0.1:8000"
SKIP = re.compile(r"<!-- readme-test: skip \((?P<reason>[^)]+)\) -->")
FENCE = re.compile(r"```(?P<lang>[\w-]*)\s*$")
PY_DURATION = re.compile(r"\"(?P<n>\d+(?:\.\d+)?)(?P<unit>[sm])\"")
BASH_DURATION = re.compile(
    r"(?P<opt>--duration|-d|--step-duration)(?P<sep>\s+|=)\d+(?:\.\d+)?[sm]\b")
BASH_TIMEOUT = 300  # seconds: a bound that only catches a hang


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, its first line's number in the file, its text, and
    why it is not run (None: it runs)."""

    lang: str
    line: int
    code: str
    skip: str | None = None

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def blocks(text: str) -> Iterator[Block]:
    """The ``python`` and ``bash`` blocks of ``text``; ValueError for a skip marker without a
    reason or not right before such a block's fence."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "readme-test" in line:
            marker = SKIP.fullmatch(line.strip())
            after = FENCE.fullmatch(lines[i + 1]) if i + 1 < len(lines) else None
            if marker is None or after is None or after["lang"] not in ("python", "bash"):
                raise ValueError(f"README.md:{i + 1}: a skip marker is "
                                 "'<!-- readme-test: skip (REASON) -->' right before a "
                                 f"python or bash fence: {line!r}")
        fence = FENCE.fullmatch(line)
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if fence["lang"] in ("python", "bash"):
            marker = SKIP.fullmatch(lines[i - 1].strip()) if i else None
            yield Block(fence["lang"], i + 2, "\n".join(lines[i + 1:end]) + "\n",
                        marker["reason"] if marker else None)
        i = end + 1


def readme_blocks(lang: str) -> list[Block]:
    return [b for b in blocks(README.read_text()) if b.lang == lang and b.skip is None]


# -- python --------------------------------------------------------------------------------------


def shorter_python(code: str, url: str) -> str:
    """``code`` against ``url``, its durations over one second shortened to ``"1s"``."""
    def one_second(m: re.Match[str]) -> str:
        seconds = float(m["n"]) * (60 if m["unit"] == "m" else 1)
        return '"1s"' if seconds > 1 else m[0]

    code = code.replace(README_URL + "/", url).replace(README_URL, url.rstrip("/"))
    return PY_DURATION.sub(one_second, code)


def show(value: object) -> None:
    """What a notebook does with a cell's value: its HTML, else its repr."""
    html = getattr(value, "_repr_html_", None)
    if callable(html):
        html()
    else:
        repr(value)


def run_python_block(block: Block, code: str, ns: dict[str, Any],
                     loop: asyncio.AbstractEventLoop) -> None:
    """Run one block in ``ns``: awaited on ``loop`` when it has a top-level ``await``; its last
    expression, if any, shown."""
    tree = ast.parse(code, str(block))
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(ast.Assign(
            targets=[ast.Name("_readme_value", ast.Store())], value=last.value), last)
        ast.fix_missing_locations(tree)
    compiled = compile(tree, str(block), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    ns.pop("_readme_value", None)
    if compiled.co_flags & inspect.CO_COROUTINE:
        loop.run_until_complete(eval(compiled, ns))
    else:
        exec(compiled, ns)
    if "_readme_value" in ns:
        show(ns.pop("_readme_value"))


def thresholds_judged(ns: dict[str, Any]) -> None:
    """Every Result in ``ns`` observed a value for each of its thresholds."""
    from loadnb import Result

    for name, value in ns.items():
        if isinstance(value, Result):
            blind = [t["expr"] for t in value.summary.get("thresholds", [])
                     if t["observed"] is None]
            assert not blind, f"{name}: thresholds that observed nothing: {blind}"


def run_python(blocks_: list[Block], url: str) -> dict[str, Any]:
    """Run ``blocks_`` in order in one namespace (``url`` bound); raise AssertionError naming
    the block that broke. Demo servers the blocks started are stopped. Returns the namespace."""
    from loadnb.demo import process

    ns: dict[str, Any] = {"__name__": "__readme__", "url": url}
    before = set(process._REGISTRY.children)
    loop = asyncio.new_event_loop()
    try:
        for block in blocks_:
            try:
                run_python_block(block, shorter_python(block.code, url), ns, loop)
                thresholds_judged(ns)
            except Exception as exc:
                raise AssertionError(f"{block} broke: {type(exc).__name__}: {exc}\n"
                                     f"{block.code}") from exc
    finally:
        for started in set(process._REGISTRY.children) - before:
            process.stop_sync(started)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return ns


# -- bash ----------------------------------------------------------------------------------------


def shorter_bash(code: str, url: str) -> str:
    """``code`` against ``url``, every run's and step's duration ``1s``."""
    code = code.replace(README_URL + "/", url).replace(README_URL, url.rstrip("/"))
    return BASH_DURATION.sub(lambda m: f"{m['opt']}{m['sep']}1s", code)


def bash_env(cwd: Path) -> dict[str, str]:
    """The environment of the bash blocks: this venv's ``loadnb``, this checkout's code, a
    history database in ``cwd``."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["LOADNB_HISTORY"] = str(cwd / "history.sqlite")
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def run_bash(blocks_: list[Block], url: str, cwd: Path) -> None:
    """Run ``blocks_`` in order in ``cwd``; raise AssertionError naming the block that broke,
    with its output."""
    env = bash_env(cwd)
    for block in blocks_:
        script = shorter_bash(block.code, url)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=BASH_TIMEOUT)
        assert done.returncode == 0, (f"{block} broke: exit status {done.returncode}\n{script}\n"
                                      f"stdout: {done.stdout[-3000:]}\n"
                                      f"stderr: {done.stderr[-3000:]}")


# -- the tests -----------------------------------------------------------------------------------


def test_every_block_runs_or_says_why_not() -> None:
    """Each skip marker names its reason and stands right before a fence; most blocks run."""
    found = list(blocks(README.read_text()))
    runs = [b for b in found if b.skip is None]
    assert sum(b.lang == "python" for b in runs) >= 8, runs
    assert sum(b.lang == "bash" for b in runs) >= 4, runs
    assert all(b.skip and len(b.skip) > 10 for b in found if b not in runs)


def test_a_bad_marker_or_a_broken_block_fails(demo_url: str, tmp_path: Path) -> None:
    """The runners can fail: a marker without a reason, a python block that raises, a threshold
    naming a request the run does not have, a bash command that fails."""
    with pytest.raises(ValueError, match="skip marker"):
        list(blocks("<!-- readme-test: skip -->\n```python\npass\n```\n"))
    with pytest.raises(ValueError, match="skip marker"):
        list(blocks("<!-- readme-test: skip (a reason) -->\n\n```python\npass\n```\n"))
    ok = Block("python", 1, "x = 1\n")
    with pytest.raises(AssertionError, match=r"README.md:7 \(python\) broke: NameError"):
        run_python([ok, Block("python", 7, "x + y\n")], demo_url)
    blind = Block("python", 9, 'result = await loadnb.arun(url, requests=2, '
                  'thresholds=["p99[GET /nowhere]<1s"])\n')
    with pytest.raises(AssertionError, match="observed nothing"):
        run_python([Block("python", 1, "import loadnb\n"), blind], demo_url)
    with pytest.raises(AssertionError, match=r"README.md:3 \(bash\) broke: exit status 2"):
        run_bash([Block("bash", 3, "loadnb run http://127.0.0.1:8000/ -u -5\necho never\n")],
                 demo_url, tmp_path)


def test_substitutions_shorten_durations_and_point_at_the_demo() -> None:
    code = 'x = f("http://127.0.0.1:8000/", duration="30s", d="1m", s=[("0.5s", 2)], t="10ms")'
    assert shorter_python(code, "http://127.0.0.1:5/") == (
        'x = f("http://127.0.0.1:5/", duration="1s", d="1s", s=[("0.5s", 2)], t="10ms")')
    bash = "loadnb run http://127.0.0.1:8000/ -d 1m --duration=30s --step-duration 5s -u 20"
    assert shorter_bash(bash, "http://127.0.0.1:5/") == (
        "loadnb run http://127.0.0.1:5/ -d 1s --duration=1s --step-duration 1s -u 20")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_readme_python_blocks_run(demo_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOADNB_HISTORY", str(tmp_path / "history.sqlite"))
    run_python(readme_blocks("python"), demo_url)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_readme_bash_blocks_run(demo_url: str, tmp_path: Path) -> None:
    run_bash(readme_blocks("bash"), demo_url, tmp_path)
    assert (tmp_path / "run.csv").exists() and (tmp_path / "report.html").exists()


# -- ARCHITECTURE.md -----------------------------------------------------------------------------


def unnamed_modules(architecture: str, modules: list[str]) -> list[str]:
    """The ``modules`` (paths under ``loadnb/``) that ``architecture`` does not name: a top-level
    ``x.py`` is named as `` `x.py` ``; ``pkg/x.py`` as `` `pkg/x.py` ``, or as `` `x.py` `` in a
    paragraph or table row that names `` `pkg/` ``; ``pkg/__init__.py`` by `` `pkg/` ``."""
    chunks = [row for part in architecture.split("\n\n") for row in
              (part.splitlines() if part.lstrip().startswith("|") else [part])]
    missing = []
    for module in modules:
        pkg, _, base = module.rpartition("/")
        if not pkg:
            named = f"`{base}`" in architecture
        elif base == "__init__.py":
            named = f"`{pkg}/`" in architecture
        else:
            named = f"`{module}`" in architecture or any(
                f"`{pkg}/`" in chunk and f"`{base}`" in chunk for chunk in chunks)
        if not named:
            missing.append(module)
    return missing


def test_architecture_names_every_module() -> None:
    modules = sorted(str(p.relative_to(ROOT / "loadnb")) for p in (ROOT / "loadnb").rglob("*.py"))
    assert len(modules) > 50
    assert unnamed_modules((ROOT / "ARCHITECTURE.md").read_text(), modules) == []
    assert unnamed_modules("`ui/` has `a.py`.\n\n`b.py`", ["ui/a.py", "ui/b.py", "c.py"]) == [
        "ui/b.py", "c.py"]
