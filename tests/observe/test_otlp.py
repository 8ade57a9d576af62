"""The OTLP/HTTP pusher against a real receiver on loopback (tests/otlp_receiver.py, decoding
the protobuf with opentelemetry-proto): one export per update with counts that add up, failures
as warnings that never reach the caller, the final flush, secrets, and bad inputs."""

from __future__ import annotations

import asyncio
import sys

import pytest

from loadnb.observe import otlp
from loadnb.observe.feed import BOUNDS, LoadMetrics
from loadnb.observe.otlp import OtlpPusher, encode, otlp_url

from ..conftest import until
from ..otlp_receiver import OtlpReceiver, attrs, points, sum_of
from .test_exporter import totals


def feed(metrics: LoadMetrics, step: int) -> int:
    """Update ``metrics`` with the cumulative totals after ``step`` ticks; the fed total."""
    a, b = totals(10 * step, step, 0, seed=step), totals(5 * step, 0, step % 2, seed=step + 9,
                                                        name="POST /api")
    metrics.update({"GET /": a, "POST /api": b}, active_users=step, in_flight=1, dropped=step)
    return 11 * step + 5 * step + step % 2


async def failed_push(pusher: OtlpPusher) -> OtlpPusher:
    """Start ``pusher``, feed one update, wait for its push to fail, close it."""
    await pusher.start()
    try:
        feed(pusher.metrics, 1)
        await until(lambda: pusher.failures >= 1, 10, what="a failed push")
    finally:
        await pusher.aclose()
    return pusher


def test_encode_is_cumulative_with_the_bounds_and_run_id() -> None:
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb

    metrics = LoadMetrics("run-7")
    feed(metrics, 3)
    req = encode(metrics.current, BOUNDS)
    rm = req.resource_metrics[0]
    resource = {kv.key: kv.value.string_value for kv in rm.resource.attributes}
    assert resource["service.name"] == "loadnb" and resource["loadnb.run_id"] == "run-7"
    by_name = {m.name: m for m in rm.scope_metrics[0].metrics}
    cumulative = pb.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert by_name["loadnb.requests"].sum.is_monotonic
    assert by_name["loadnb.requests"].sum.aggregation_temporality == cumulative
    hist = by_name["loadnb.request.duration"].histogram
    assert hist.aggregation_temporality == cumulative and by_name[
        "loadnb.request.duration"].unit == "s"
    for point in hist.data_points:
        assert list(point.explicit_bounds) == list(BOUNDS)
        assert len(point.bucket_counts) == len(BOUNDS) + 1
        assert sum(point.bucket_counts) == point.count
        assert attrs(point)["run_id"] == "run-7"
    assert {m for m in by_name} == {"loadnb.requests", "loadnb.request.duration",
                                    "loadnb.active_users", "loadnb.in_flight",
                                    "loadnb.dropped_arrivals"}


async def test_one_export_per_update_and_the_counts_add_up() -> None:
    metrics = LoadMetrics("run-1")
    async with OtlpReceiver() as rx:
        pusher = OtlpPusher(rx.url, metrics, timeout=2.0)
        await pusher.start()
        try:
            for step in range(1, 6):
                fed = feed(metrics, step)
                await until(lambda n=step: len(rx.exports) >= n, 10, what=f"export {step}")
                last = rx.exports[-1]
                assert sum_of(last, "loadnb.requests") == fed
                assert sum_of(last, "loadnb.requests", result="failed") == step
                assert sum_of(last, "loadnb.dropped_arrivals") == step
                assert [p.as_int for p in points(last)["loadnb.active_users"]] == [step]
        finally:
            await pusher.aclose()
        assert len(rx.exports) == 5 and pusher.pushes == 5 and pusher.warnings == []
        starts = {p.start_time_unix_nano for e in rx.exports
                  for p in points(e)["loadnb.requests"]}
        assert len(starts) == 1  # cumulative: one start for the whole run
        assert rx.exports[0].headers["Content-Type"] == "application/x-protobuf"


async def test_aclose_flushes_the_last_state() -> None:
    metrics = LoadMetrics("r")
    async with OtlpReceiver() as rx:
        rx.mode = "hang"
        pusher = OtlpPusher(rx.url, metrics, timeout=1.0)
        await pusher.start()
        feed(metrics, 1)
        await until(lambda: rx.posts >= 1, 10, what="a push")
        rx.mode = "ok"
        fed = feed(metrics, 2)  # pushed now, or at the latest by aclose
        await pusher.aclose()
        assert sum_of(rx.exports[-1], "loadnb.requests") == fed


async def test_failures_are_warnings_the_caller_never_waits_and_it_recovers() -> None:
    metrics = LoadMetrics("r")
    warned: list[str] = []
    async with OtlpReceiver() as rx:
        rx.mode = "fail"
        pusher = OtlpPusher(rx.url, metrics, timeout=1.0, warn=warned.append)
        await pusher.start()
        try:
            for step in (1, 2):
                feed(metrics, step)
                await until(lambda n=step: pusher.failures >= n, 10, what="a failed push")
            assert warned == [f"OTLP push to {rx.url}v1/metrics failed: HTTP 500"]
            rx.mode = "hang"
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            feed(metrics, 3)  # update() is plain: it never waits for the push
            assert loop.time() - t0 < 0.5
            await until(lambda: pusher.failures >= 3, 10, what="a timed-out push")
            assert len(warned) == 1  # one warning per run of failures
            rx.mode = "ok"
            fed = feed(metrics, 4)
            await until(lambda: pusher.pushes >= 1, 10, what="a push that works")
            assert sum_of(rx.exports[-1], "loadnb.requests") == fed  # the totals, not a delta
            assert warned[-1] == f"OTLP push to {rx.url}v1/metrics works again after 3 failed"
            assert pusher._task is not None and not pusher._task.done()
        finally:
            await pusher.aclose()


async def test_secrets_never_appear_in_a_warning() -> None:
    metrics = LoadMetrics("r")
    async with OtlpReceiver() as rx:
        rx.mode = "fail"
        url = rx.url.replace("http://", "http://user:hunter2@") + "v1/metrics?token=tok123"
        pusher = await failed_push(OtlpPusher(url, metrics, timeout=0.5,
                                              headers={"X-Scope-Key": "k3y-value"}))
        text = " ".join(pusher.warnings) + pusher.shown
        assert pusher.warnings and "hunter2" not in text and "tok123" not in text
        assert "k3y-value" not in text
        rx.mode = "ok"
        pusher = OtlpPusher(url, metrics, timeout=2.0, headers={"X-Scope-Key": "k3y-value"})
        await pusher.start()
        await pusher.aclose()  # flushes the state never pushed
        sent = rx.exports[-1].headers
        assert sent["X-Scope-Key"] == "k3y-value" and sent["Authorization"].startswith("Basic ")


async def test_a_refused_connection_is_a_warning() -> None:
    from .test_exporter import free_port

    pusher = await failed_push(OtlpPusher(f"http://127.0.0.1:{free_port()}", LoadMetrics("r"),
                                          timeout=0.5))
    assert "cannot connect" in pusher.warnings[0]


@pytest.mark.parametrize("url,message", [
    ("ftp://127.0.0.1/", "http:// or https://"), ("127.0.0.1:4318", "http:// or https://"),
    ("http://", "with a host"), ("http://127.0.0.1:99999/", "not a URL"),
    ("file:///etc/passwd", "http:// or https://"), (4318, "must be a string"),
])
def test_bad_urls(url: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OtlpPusher(url, LoadMetrics("r"))  # type: ignore[arg-type]


def test_bad_url_messages_hide_secrets() -> None:
    with pytest.raises(ValueError) as info:
        otlp_url("ftp://u:pw-secret@127.0.0.1/?api_key=abc123")
    assert "pw-secret" not in str(info.value) and "abc123" not in str(info.value)


def test_the_url_gets_the_metrics_path_only_without_one() -> None:
    assert otlp_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/metrics"
    assert otlp_url("https://h/") == "https://h/v1/metrics"
    assert otlp_url("http://h:1/custom/path") == "http://h:1/custom/path"


def test_a_bad_timeout_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="timeout"):
        OtlpPusher("http://127.0.0.1:4318", LoadMetrics("r"), timeout=0)


def test_without_opentelemetry_proto_the_error_names_the_pip_command(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.proto.collector.metrics.v1", None)
    with pytest.raises(ImportError, match=r"pip install 'loadnb\[otlp\]'"):
        OtlpPusher("http://127.0.0.1:4318", LoadMetrics("r"))
    assert otlp.INSTALL in str(pytest.raises(ImportError, otlp.require_proto).value)
