"""The ``loadnb`` command: ``loadnb run URL ...``, ``loadnb demo ...``, ``loadnb --version``.

Every parameter goes through :func:`loadnb.config.make_spec`, so bad input gets the same one-line
message as the Python API: ``loadnb: error: <message>`` on stderr, exit status 2, nothing started.
The live line and the summary table go to stderr; stdout carries only the ``--json`` object.

Exit status: 0 the run finished (failed requests included, see :func:`result_exit_code`), 3 it
finished and a threshold failed, 1 an internal error, 2 bad input (a bad threshold expression
too), 128 + signal number when interrupted (130 for Ctrl-C, 143 for SIGTERM) after a clean stop
and the partial summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .._version import __version__
from ..console import ConsoleProgress, format_error_samples, format_summary
from ..history.store import check_writable
from ..results.outputs import write_ci_outputs
from ..results.result import Result
from ..runner.run import Run, rules_of, run_new_loop
from ..spec.config import LoadSpec, make_spec
from ..spec.scenario import DATA_MODES, load_scenario, read_data_file
from ..text.jsonsafe import json_safe
from .history import COMMANDS as HISTORY_COMMANDS
from .history import add_commands as add_history_commands
from .history import main_for as history_main

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3
OUT_FORMATS = (".csv", ".json", ".parquet")


class UsageError(ValueError):
    """Bad command-line input (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of usage + message
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="loadnb", description="Notebook-native HTTP load testing, from a terminal.")
    p.add_argument("--version", action="version", version=f"loadnb {__version__}")
    sub = p.add_subparsers(dest="command",
                           metavar="{run,demo,app,history,show,compare,report,capacity}")
    r = sub.add_parser("run", help="send load to a URL and print a summary",
                       description="Send load to URL; live line and summary on stderr.")
    r.add_argument("url", nargs="?", help="http:// or https:// target (with --scenario: the "
                   "base URL of relative paths)")
    _add_scenario_options(r)
    r.add_argument("--stage", action="append", default=[], metavar="DURATION:TARGET",
                   help="a load stage, e.g. 10s:20 (repeat; users, or the rate with --rate-stages)")
    r.add_argument("--rate-stages", action="store_true",
                   help="the --stage targets are arrivals per second (open model)")
    load = r.add_argument_group("load model (give --users or --rate, not both)")
    load.add_argument("-u", "--users", help="virtual users, closed model (default 10)")
    load.add_argument("-r", "--rate", help="arrivals per second, open model")
    load.add_argument("-d", "--duration", help="run time, e.g. 30s, 2m (default 10s)")
    load.add_argument("-n", "--requests", help="stop after N requests started")
    load.add_argument("--ramp-up", default="0", help="ramp users or rate up over this time")
    load.add_argument("--think-time", default="0",
                      help="a user's pause after each iteration: a time, or MIN:MAX drawn "
                           "uniformly each time (e.g. 1s:3s)")
    load.add_argument("--pacing", help="instead: start a user's iterations every this long")
    load.add_argument("--max-in-flight", help="open model: cap on requests in flight")
    load.add_argument("--connections", help="connection pool size")
    load.add_argument("--no-keepalive", action="store_true", help="new connection per request")
    load.add_argument("--timeout", default="10s", help="per-request timeout (default 10s)")
    load.add_argument("--graceful-stop", default="5s",
                      help="at the end, time in-flight requests get to finish (default 5s)")
    load.add_argument("--workers", metavar="N|auto",
                      help="generate the load in N Dask worker processes on this machine "
                           "(auto: one per core)")
    load.add_argument("--cluster", metavar="ADDRESS",
                      help="generate the load on an existing Dask cluster, e.g. "
                           "tcp://10.0.0.5:8786 (its workers need the same loadnb)")
    req = r.add_argument_group("request")
    req.add_argument("-X", "--method", default="GET", help="HTTP method (default GET)")
    req.add_argument("-H", "--header", action="append", default=[], metavar="'K: V'",
                     help="request header (repeatable)")
    req.add_argument("--body", metavar="TEXT|@FILE", help="request body, or @file to read it")
    req.add_argument("--expect-status", action="append", default=[], metavar="CODES",
                     help="statuses that count as success, e.g. 200,204 (repeatable; "
                          "default: < 400)")
    req.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    req.add_argument("--follow-redirects", action="store_true", help="follow redirects")
    req.add_argument("--transport", default="auto", metavar="{auto,fast,aiohttp}",
                     help="HTTP client: fast keep-alive HTTP/1.1, aiohttp (full HTTP), or auto "
                          "(fast whenever it can run the test; default)")
    out = r.add_argument_group("output")
    out.add_argument("--interval", default="0.5s", help="snapshot interval (default 0.5s)")
    out.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    out.add_argument("-o", "--out", metavar="FILE.csv|FILE.json|FILE.parquet",
                     help="write the run's tables (.csv: the snapshots, the other tables beside "
                          "them, as Result.to_csv), or the whole run (.json, .parquet: "
                          "loadnb.load() reads it back)")
    out.add_argument("-q", "--quiet", action="store_true", help="no live line, no summary table")
    out.add_argument("--show-errors", action="store_true",
                     help="after the summary table, print each error kind with a sample "
                          "(status line and first body bytes, or the exception; redacted)")
    out.add_argument("--history", metavar="PATH", help="keep the run in this history database "
                     "(default: $LOADNB_HISTORY, else the per-user data directory)")
    out.add_argument("--no-history", action="store_true", help="do not keep the run")
    judge = r.add_argument_group("judging the run (exit status 3 when a threshold fails)")
    judge.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                       help="pass/fail on the whole run, e.g. 'p95<300ms', 'errors<1%%', "
                            "'rps>500', 'p99[GET /api/items/{id}]<1s' (repeatable)")
    judge.add_argument("--abort-on-fail", action="store_true",
                       help="stop as soon as a threshold is lost for good, or has failed for "
                            "3 intervals in a row after --abort-grace")
    judge.add_argument("--abort-grace", default="0s", metavar="DURATION",
                       help="with --abort-on-fail: no sustained-failure abort before this time")
    judge.add_argument("--alert", action="append", default=[], metavar="EXPR",
                       help="an alert rule on each interval, in the threshold language, added "
                            "to the default rules (repeatable)")
    judge.add_argument("--notify", action="append", default=[], metavar="URL",
                       help="POST every alert fire and clear as JSON to this webhook "
                            "(repeatable)")
    judge.add_argument("--junit", metavar="FILE.xml",
                       help="write JUnit XML: one test case per threshold")
    judge.add_argument("--summary-md", metavar="FILE.md",
                       help="write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY "
                            "when set)")
    add_history_commands(sub)
    _add_capacity_command(sub)
    _add_report_command(sub)
    _add_app_command(sub)
    sub.add_parser("demo", add_help=False, help="run the built-in demo target server "
                   "(loadnb demo --help)")
    return p


def _add_scenario_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--scenario", metavar="FILE.py:NAME",
                   help="run NAME from FILE.py: an async function of a user, or a mapping of "
                        "async functions to weights")
    r.add_argument("--data", metavar="FILE",
                   help="rows for the scenario's user.data, one per iteration, by extension: "
                        "FILE.csv (the first line is the header; each row a dict of text) or "
                        "FILE.jsonl / FILE.ndjson (JSON Lines: one JSON object per line)")
    r.add_argument("--data-mode", choices=DATA_MODES,
                   help="how iterations take the --data rows: cycle through them (default), "
                        "each once (the run ends when all are used), or at random")


# -- arguments → LoadSpec ------------------------------------------------------------------
def _number(text: str | None, what: str) -> Any:
    """``"20"`` → 20, ``"2.5"`` → 2.5 (an int, a float or None): make_spec judges the rest."""
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"{what} must be a finite number, got {text!r}")
    return value


def _stage(text: str) -> tuple[str, float]:
    length, sep, target = text.rpartition(":")
    try:
        value = float(target)
    except ValueError:
        value = -1.0
    if not sep or value < 0:
        raise ValueError(f"--stage {text!r}: expected DURATION:TARGET, e.g. 10s:20")
    return length, value


def _body(text: str | None) -> bytes | str | None:
    """``--body TEXT`` as given, ``--body @path`` read from the file."""
    if text is None or not text.startswith("@"):
        return text
    path = text[1:]
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read body file {path!r}: {exc.strerror or exc}") from None


def _statuses(values: Sequence[str]) -> list[Any] | None:
    """``["200,204", "301"]`` → ``["200", "204", "301"]`` (make_spec checks the codes)."""
    codes = [part.strip() for value in values for part in value.split(",")]
    return codes or None


def _output_file(text: str | None, flag: str, suffixes: Sequence[str] = ()) -> Path | None:
    """A file a command will write (``--out``, ``--junit``, ``--summary-md``, ``report -o``),
    checked before anything is loaded or sent: its suffix (one of ``suffixes``, if given), a
    folder that exists and is one, and a file that can be written there."""
    if text is None:
        return None
    path = Path(text)
    if suffixes and path.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} must end in {' or '.join(suffixes)}, got {text!r}")
    if path.is_dir():
        raise UsageError(f"{flag}: {text!r} is a directory")
    if not path.parent.is_dir():
        raise UsageError(f"{flag}: {_no_folder(path.parent)}")
    try:  # a real file, as the end of the run writes one: permissions, read-only or /proc
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write in {str(path.parent)!r}: "
                         f"{exc.strerror or exc}") from None
    try:  # a file that is there already is written over: it must let us
        if path.exists():
            with path.open("ab"):
                pass
    except OSError as exc:
        raise UsageError(f"{flag}: cannot write {text!r}: {exc.strerror or exc}") from None
    return path


def _no_folder(folder: Path) -> str:
    """Why ``folder`` is not there to write in: it, or the nearest of its parents that exists,
    is a file; or it does not exist."""
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                return f"{str(part)!r} is not a directory"
            break
    return f"directory {str(folder)!r} does not exist"


def _check_history(text: str | None) -> None:
    """``--history PATH``: a database a run can write (checked before the run; nothing made)."""
    if text is not None and text.strip().lower() != "off":
        try:
            check_writable(Path(text).expanduser())
        except ValueError as exc:  # HistoryError
            raise UsageError(f"--history: {exc}") from None


#: Options whose value may start with "-" (``-d -3s`` reaches the range check, not argparse).
_VALUE_OPTIONS = frozenset({"-u", "--users", "-r", "--rate", "-d", "--duration", "-n",
                            "--requests", "--ramp-up", "--think-time", "--pacing",
                            "--max-in-flight", "--connections", "--timeout", "--graceful-stop",
                            "--interval", "--abort-grace"})


def _join_negative(argv: list[str]) -> list[str]:
    """``["-d", "-3s"]`` → ``["-d=-3s"]`` (``--duration=-3s`` form) for the options that take a
    number or a time, so a negative value gets the range message instead of argparse's."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in _VALUE_OPTIONS and len(nxt) > 1 and nxt[0] == "-" and (
                nxt[1].isdigit() or nxt[1] == "."):
            out.append(f"{arg}={nxt}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _write_ci(result: Result, junit: Path | None, markdown: Path | None) -> int:
    """The --junit and --summary-md files (and $GITHUB_STEP_SUMMARY); EXIT_ERROR if one fails."""
    try:
        write_ci_outputs(json_safe(result.summary), junit, markdown)
    except OSError as exc:
        _error(f"cannot write a CI output: {exc.strerror or exc}")
        return EXIT_ERROR
    return EXIT_OK


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    """The validated :class:`LoadSpec` of ``loadnb run`` arguments (``ValueError`` if bad)."""
    spec = _spec_from_args(args)
    if args.alert:  # the default rules, plus the expressions given
        spec = spec.replace(alerts=[*rules_of(spec), *args.alert])
    return spec


def _spec_from_args(args: argparse.Namespace) -> LoadSpec:
    if args.rate_stages and not args.stage:
        raise ValueError("--rate-stages needs --stage DURATION:RATE (at least one)")
    if args.stage and (args.users is not None or args.rate is not None):
        what = "--users" if args.users is not None else "--rate"
        raise ValueError(f"--stage sets the load and the duration: don't pass {what} with it "
                         "(use --rate-stages for arrivals per second)")
    stages = [_stage(text) for text in args.stage] or None
    if args.url is None and args.scenario is None:
        raise ValueError("give a URL to load (or --scenario FILE.py:NAME)")
    data = _data_rows(args)
    return make_spec(
        args.url,
        scenario=None if args.scenario is None else load_scenario(args.scenario),
        data=data, data_mode=args.data_mode or "cycle",
        stages=None if args.rate_stages else stages,
        rate_stages=stages if args.rate_stages else None,
        users=_number(args.users, "users"),
        rate=_number(args.rate, "rate"),
        duration=args.duration,
        requests=_number(args.requests, "requests"),
        ramp_up=args.ramp_up, think_time=args.think_time, pacing=args.pacing,
        timeout=args.timeout,
        max_in_flight=_number(args.max_in_flight, "max_in_flight"),
        connections=_number(args.connections, "connections"),
        keepalive=not args.no_keepalive, method=args.method, headers=list(args.header),
        body=_body(args.body), expect_status=_statuses(args.expect_status),
        insecure=args.insecure, follow_redirects=args.follow_redirects,
        interval=args.interval, graceful_stop=args.graceful_stop, transport=args.transport,
        history="off" if args.no_history else args.history,
        thresholds=args.threshold, abort_on_fail=args.abort_on_fail,
        abort_grace=args.abort_grace, notify=args.notify or None,
        workers=args.workers if args.workers in (None, "auto")
        else _number(args.workers, "workers"),
        cluster=args.cluster,
    )


def _data_rows(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    """The rows of ``--data FILE`` (None without it), for make_spec's ``data=``."""
    if args.data is None:
        if args.data_mode is not None:
            raise ValueError("--data-mode needs --data FILE (the rows it hands out)")
        return None
    if args.scenario is None:
        raise ValueError("--data feeds a scenario: pass --scenario FILE.py:NAME as well")
    return read_data_file(args.data, "--data")


# -- running -------------------------------------------------------------------------------
def result_exit_code(result: Result) -> int:
    """The exit status of a run that finished: 3 when a threshold failed, else 0 (whatever the
    share of failed requests: judge those with thresholds such as ``errors<1%``)."""
    if any(not t.get("passed") for t in result.record.thresholds):
        return EXIT_THRESHOLD
    return EXIT_OK


async def execute(run: Run) -> tuple[Result, int | None]:
    """Run ``run`` to its end; SIGINT/SIGTERM stop it cleanly (a second one exits at once).

    Returns the result and the number of the signal that stopped it (None if it ran its course).
    """
    loop = asyncio.get_running_loop()
    caught: list[int] = []

    def on_signal(signum: int) -> None:
        if caught:  # a second Ctrl-C: the user does not want to wait any longer
            name = signal.Signals(signum).name
            sys.stderr.write(f"\nloadnb: {name} again: exiting without waiting\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        caught.append(signum)
        run.stop()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not main thread
            pass
    try:
        result = await run.run()  # a KeyboardInterrupt where handlers can't be set: stop + wait
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return result, (caught[0] if caught else None)


def write_out(result: Result, path: Path) -> None:
    """``.csv``: the CSV export (:func:`loadnb.results.export.to_csv`, as ``Result.to_csv``): the
    snapshots, and every other table beside them (``x_stats.csv``, Locust's per-name stats, …,
    ``x_summary.json``); ``.json`` / ``.parquet``: the run's export (summary, snapshots and every
    table; ``loadnb.load(path)`` reads it back)."""
    if path.suffix.lower() == ".csv":
        result.to_csv(path)
    elif path.suffix.lower() == ".parquet":
        result.to_parquet(path)
    else:
        result.to_json(path)


def _error(message: str) -> None:
    sys.stderr.write(f"loadnb: error: {message}\n")
    sys.stderr.flush()


def run_command(args: argparse.Namespace) -> int:
    """``loadnb run``: validate, run with a live line, report; returns the exit status."""
    try:
        out_path = _output_file(args.out, "--out", OUT_FORMATS)
        _check_history(None if args.no_history else args.history)
        ci_paths = (_output_file(args.junit, "--junit"),
                    _output_file(args.summary_md, "--summary-md"))
        spec = spec_from_args(args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    run = Run(spec)
    progress = None if args.quiet else ConsoleProgress(sys.stderr)
    if progress is not None:
        progress.attach(run)
    failure: BaseException | None = None
    signum: int | None = None
    try:
        result, signum = run_new_loop(execute(run))
    except KeyboardInterrupt:  # no signal handlers here (Windows): Run.run stopped and waited
        result, signum = run.result, signal.SIGINT
    except Exception as exc:  # noqa: BLE001 - reported as one line, exit 1
        failure, result = exc, run.result
    finally:
        if progress is not None:
            progress.close()
    code = _report(args, result, out_path)
    code = _write_ci(result, *ci_paths) if code == EXIT_OK else code
    if failure is not None:
        _error(f"the run failed: {type(failure).__name__}: {failure}")
        return EXIT_ERROR
    if signum is not None:
        if not args.quiet:
            sys.stderr.write(f"loadnb: stopped by {signal.Signals(signum).name}: "
                             "the results above are partial\n")
        return 128 + signum
    return code if code != EXIT_OK else result_exit_code(result)


def _report(args: argparse.Namespace, result: Result, out_path: Path | None) -> int:
    """Summary table (stderr), JSON (stdout) and the --out file; EXIT_ERROR if one fails."""
    try:
        summary = json_safe(result.summary)
    except Exception as exc:  # noqa: BLE001 - a broken result must still exit cleanly
        _error(f"cannot summarise the run: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    if not args.quiet:
        sys.stderr.write(format_summary(summary) + "\n")
        if args.show_errors:
            sys.stderr.write(format_error_samples(summary) + "\n")
        sys.stderr.flush()
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
    if out_path is not None:
        try:
            write_out(result, out_path)
        except OSError as exc:
            _error(f"cannot write {str(out_path)!r}: {exc.strerror or exc}")
            return EXIT_ERROR
    return EXIT_OK


def _add_capacity_command(sub: Any) -> None:
    c = sub.add_parser("capacity", help="find the highest rate a URL serves within an SLO")
    c.add_argument("url", help="http://127.0.0.1:8000/path (loopback or your own servers)")
    c.add_argument("--slo", action="append", required=True, metavar="EXPR",
                   help="a threshold expression the steps must meet, e.g. 'p99<200ms' "
                        "(repeatable)")
    c.add_argument("--max-rate", type=float, default=10_000.0, metavar="R",
                   help="highest rate tried (default 10000/s)")
    c.add_argument("--start-rate", type=float, default=10.0, metavar="R",
                   help="first rate (default 10/s)")
    c.add_argument("--factor", type=float, default=2.0, help="rate growth per step (default 2)")
    c.add_argument("--resolution", type=float, default=0.05,
                   help="stop when last good and first bad are this close (default 0.05)")
    c.add_argument("--step-duration", default="5s", metavar="TIME", help="default 5s")
    c.add_argument("--cooldown", default="1s", metavar="TIME", help="default 1s")
    c.add_argument("--max-steps", type=int, default=20, metavar="N", help="default 20")
    c.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    c.add_argument("--no-history", action="store_true", help="do not keep the steps' runs")
    c.add_argument("-q", "--quiet", action="store_true", help="no step lines on stderr")


def capacity_command(args: argparse.Namespace) -> int:
    """``loadnb capacity``: one line per step on stderr, then the result; exit 0 (2: bad input)."""
    from ..studies.capacity import acapacity

    def line(row: dict[str, Any]) -> None:
        if not args.quiet:
            verdict = "ok" if row["passed"] else ("queue" if row["latency_grew"] else "breaks SLO")
            sys.stderr.write(f"{row['offered_rps']:>10,.1f}/s offered  "
                             f"{row['achieved_rps']:>10,.1f}/s achieved  "
                             f"p99 {row['p99_ms']} ms  {verdict}\n")

    try:
        found = run_new_loop(acapacity(
            args.url, args.slo, start_rate=args.start_rate, factor=args.factor,
            resolution=args.resolution, step_duration=args.step_duration,
            cooldown=args.cooldown, max_steps=args.max_steps, max_rate=args.max_rate,
            history="off" if args.no_history else None, on_step=line))
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    if not args.quiet:
        sys.stderr.write(f"loadnb: {found.caption()}\n")
    if args.json:
        sys.stdout.write(json.dumps(json_safe(found.as_dict())) + "\n")
    return EXIT_OK


def _add_report_command(sub: Any) -> None:
    r = sub.add_parser("report", help="write a standalone HTML report of runs or exports",
                       description="One HTML file that opens offline: summary, per-name table, "
                                   "thresholds, alerts and charts; several runs overlay.")
    r.add_argument("runs", nargs="+", metavar="RUN_OR_FILE",
                   help="a history run (id, unique prefix or 'last') or an export "
                        "(.json/.parquet); several are overlaid")
    r.add_argument("-o", "--out", required=True, metavar="FILE.html", help="the report file")
    r.add_argument("--title", help="the report's title (default: the run ids)")
    r.add_argument("--history", metavar="PATH", help="the history database (default: "
                   "$LOADNB_HISTORY, else the per-user data directory)")


def report_command(args: argparse.Namespace) -> int:
    """``loadnb report``: write the HTML report; exit 0, 2 for an unknown run, a bad file or an
    ``-o`` that cannot be written (checked first)."""
    from ..history.reader import load
    from ..results.report import write_report

    try:
        _output_file(args.out, "--out")
        runs = [load(ref, args.history) for ref in args.runs]
    except (ValueError, OSError) as exc:  # HistoryError is a ValueError
        _error(str(exc))
        return EXIT_USAGE
    try:
        path = write_report(runs, args.out, title=args.title)
    except ImportError as exc:  # Bokeh is in the notebook extra
        _error(f"the report needs Bokeh ({exc}): pip install 'loadnb[notebook]'")
        return EXIT_ERROR
    except OSError as exc:
        _error(f"cannot write {args.out!r}: {exc.strerror or exc}")
        return EXIT_ERROR
    sys.stderr.write(f"loadnb: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)\n")
    return EXIT_OK


def _add_app_command(sub: Any) -> None:
    a = sub.add_parser("app", help="open the dashboard app (Voila) on 127.0.0.1",
                       description="Voila serving the dashboard app: the widget shows at once "
                                   "and nothing runs until Start (or --start).")
    a.add_argument("url", nargs="?", help="the target (default: the built-in demo server)")
    a.add_argument("--start", action="store_true", help="start streaming as the page opens")
    a.add_argument("--port", type=int, default=8866, metavar="N",
                   help="the port on 127.0.0.1 (default 8866; one in use is refused)")
    a.add_argument("--no-browser", action="store_true", help="do not open a browser")


def app_command(args: argparse.Namespace) -> int:
    """``loadnb app``: Voila on the app notebook until it ends or a signal ends it (see
    :mod:`loadnb.app.serve`); a bad URL or a busy port is bad input, before Voila starts."""
    import importlib.util

    from ..app import serve

    if args.url is not None:
        try:
            make_spec(args.url)
        except ValueError as exc:
            _error(str(exc))
            return EXIT_USAGE
    problem = serve.port_problem(args.port)
    if problem is not None:
        _error(problem)
        return EXIT_USAGE
    if importlib.util.find_spec("voila") is None:
        _error("the app needs Voila: pip install 'loadnb[notebook]'")
        return EXIT_ERROR
    env = dict(os.environ)
    if args.url is not None:
        env["LOADNB_APP_URL"] = args.url
    if args.start:
        env["LOADNB_APP_START"] = "1"
    return serve.serve(env, args.port, open_browser=not args.no_browser, preheat=not args.start,
                       say=lambda line: sys.stderr.write(f"loadnb: {line}\n"))


def main(argv: list[str] | None = None) -> int:
    """The ``loadnb`` command; returns the exit status (see the module docstring).

    >>> main(["run", "http://127.0.0.1:8000/", "--rate", "200", "-d", "5s"])  # doctest: +SKIP
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "demo":
            from .. import demo

            return demo.main(argv[1:])
        try:
            args = _parser().parse_args(_join_negative(argv))
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        except UsageError as exc:
            _error(str(exc))
            return EXIT_USAGE
        if args.command in HISTORY_COMMANDS:
            return history_main(args, format_summary)
        if args.command == "capacity":
            return capacity_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "app":
            return app_command(args)
        if args.command != "run":
            _error("a command is required: loadnb run URL [options] | loadnb demo (see --help)")
            return EXIT_USAGE
        return run_command(args)
    except KeyboardInterrupt:  # before the run's own handlers are in place
        sys.stderr.write("\n")
        return 128 + signal.SIGINT
    except BrokenPipeError:  # e.g. `loadnb run ... --json | head -c 10`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
