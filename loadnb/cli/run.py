"""``loadnb run URL ...``: its arguments, the :class:`LoadSpec` they make, the run with a live
line (SIGINT/SIGTERM stop it cleanly), the report (summary table on stderr, ``--json`` on stdout,
``--out`` and the CI files) and the exit status (see :class:`~loadnb.cli.args.ExitCode`).

Every parameter goes through :func:`loadnb.spec.config.make_spec`, so bad input gets the same
one-line message as the Python API: ``loadnb: error: <message>`` on stderr, exit status 2,
nothing started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..console import ConsoleProgress, format_error_samples, format_summary
from ..engine.loop import run_to_end
from ..history.store import check_writable
from ..record.summary import strict_summary
from ..results.outputs import write_ci_outputs
from ..results.result import Result
from ..runner.run import Run, rules_of
from ..spec.config import LoadSpec, make_spec
from ..spec.scenario import DATA_MODES, load_scenario, read_data_file
from .args import ExitCode, UsageError, _error, _number, _output_file, process_started
from .observe import add_observe_options, observe_kwargs

OUT_FORMATS = (".csv", ".json", ".parquet")


# -- arguments -----------------------------------------------------------------------------
def add_parser(sub: Any) -> None:
    """Add ``run`` and its options to ``loadnb``'s subparsers."""
    r = sub.add_parser("run", help="send load to a URL and print a summary",
                       description="Send load to URL; live line and summary on stderr.")
    r.add_argument("url", nargs="?", help="http:// or https:// target (with --scenario: the "
                   "base URL of relative paths)")
    _add_scenario_options(r)
    r.add_argument("--stage", action="append", default=[], metavar="DURATION:TARGET",
                   help="a load stage, e.g. 10s:20 (repeat; users, or the rate with --rate-stages)")
    r.add_argument("--rate-stages", action="store_true",
                   help="the --stage targets are arrivals per second (open model)")
    _add_load_options(r)
    _add_request_options(r)
    _add_protocol_options(r)
    _add_output_options(r)
    _add_judge_options(r)
    add_observe_options(r)


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


def _add_load_options(r: argparse.ArgumentParser) -> None:
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
                           "tcp://SCHEDULER:8786 (its workers need the same loadnb)")


def _add_request_options(r: argparse.ArgumentParser) -> None:
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


def _add_protocol_options(r: argparse.ArgumentParser) -> None:
    p = r.add_argument_group("protocol, TLS and connections (also --connections, --no-keepalive, "
                             "--insecure)")
    p.add_argument("--http2", action="store_true", help="HTTP/2: h2 by ALPN over https (HTTP/1.1 "
                   "if the server does not offer it, with a warning), h2c over http")
    p.add_argument("--streams", metavar="M", help="with --http2: concurrent streams per "
                   "connection (default 10, fewer if the server's SETTINGS say so)")
    p.add_argument("--cacert", metavar="FILE", help="verify the server against this CA file")
    p.add_argument("--cert", metavar="FILE", help="client certificate (PEM; with its key, or "
                   "--key)")
    p.add_argument("--key", metavar="FILE", help="the client certificate's private key")
    p.add_argument("--connect-to", action="append", default=[], metavar="HOST:PORT:ADDR:PORT",
                   help="connect to ADDR:PORT for HOST:PORT; SNI and Host stay the URL's "
                        "(curl's --connect-to; repeatable)")


def _add_output_options(r: argparse.ArgumentParser) -> None:
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


def _add_judge_options(r: argparse.ArgumentParser) -> None:
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


# -- arguments → LoadSpec ------------------------------------------------------------------
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


def _check_history(text: str | None) -> None:
    """``--history PATH``: a database a run can write (checked before the run; nothing made)."""
    if text is not None and text.strip().lower() != "off":
        try:
            check_writable(Path(text).expanduser())
        except ValueError as exc:  # HistoryError
            raise UsageError(f"--history: {exc}") from None


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
        cluster=args.cluster, http2=args.http2, streams=_number(args.streams, "streams"),
        cacert=args.cacert, cert=args.cert, key=args.key, connect_to=args.connect_to,
        **observe_kwargs(args),
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
        return ExitCode.THRESHOLD
    return ExitCode.OK


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


def run(args: argparse.Namespace) -> int:
    """``loadnb run``: validate, run with a live line, report; returns the exit status."""
    try:
        out_path = _output_file(args.out, "--out", OUT_FORMATS)
        _check_history(None if args.no_history else args.history)
        ci_paths = (_output_file(args.junit, "--junit"),
                    _output_file(args.summary_md, "--summary-md"))
        spec = spec_from_args(args)
    except ValueError as exc:
        _error(str(exc))
        return ExitCode.USAGE
    # the run, and its start-up's time and CPU, count from the process's start
    run = Run(spec, cpu_from=0.0, started_at=process_started())
    progress = None if args.quiet else ConsoleProgress(sys.stderr)
    if progress is not None:
        progress.attach(run)
    failure: BaseException | None = None
    signum: int | None = None
    try:
        result, signum = run_to_end(execute(run))
    except KeyboardInterrupt:  # no signal handlers here (Windows): Run.run stopped and waited
        result, signum = run.result, signal.SIGINT
    except Exception as exc:  # noqa: BLE001 - reported as one line, exit 1
        failure, result = exc, run.result
    finally:
        if progress is not None:
            progress.close()
    code = _report(args, result, out_path)
    code = _write_ci(result, *ci_paths) if code == ExitCode.OK else code
    if failure is not None:
        _error(f"the run failed: {type(failure).__name__}: {failure}")
        return ExitCode.ERROR
    if signum is not None:
        if not args.quiet:
            sys.stderr.write(f"loadnb: stopped by {signal.Signals(signum).name}: "
                             "the results above are partial\n")
        return 128 + signum
    return code if code != ExitCode.OK else result_exit_code(result)


def _report(args: argparse.Namespace, result: Result, out_path: Path | None) -> int:
    """Summary table (stderr), JSON (stdout) and the --out file; ExitCode.ERROR if one fails."""
    try:
        summary = strict_summary(result.summary)
    except Exception as exc:  # noqa: BLE001 - a broken result must still exit cleanly
        _error(f"cannot summarise the run: {type(exc).__name__}: {exc}")
        return ExitCode.ERROR
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
            return ExitCode.ERROR
    return ExitCode.OK


def _write_ci(result: Result, junit: Path | None, markdown: Path | None) -> int:
    """The --junit and --summary-md files (and $GITHUB_STEP_SUMMARY); ExitCode.ERROR if one
    fails."""
    try:
        write_ci_outputs(strict_summary(result.summary), junit, markdown)
    except OSError as exc:
        _error(f"cannot write a CI output: {exc.strerror or exc}")
        return ExitCode.ERROR
    return ExitCode.OK


__all__ = ["OUT_FORMATS", "add_parser", "execute", "result_exit_code", "run", "spec_from_args",
           "write_out"]
