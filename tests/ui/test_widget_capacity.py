"""The widget's *Find capacity* mode without a browser (the ipywidgets state), against the demo's
known-capacity endpoint on 127.0.0.1 (C=4 servers of 20 ms: 200 req/s). Every search is bounded
(max_steps, max_rate, 1 s steps)."""

from __future__ import annotations

import asyncio
import re

import pytest
from jupyter_bokeh import BokehModel

from loadnb.studies.capacity import CapacityResult
from loadnb.ui import LoadTest
from loadnb.ui.capacity_panel import DEFAULT_SLO, split_slo
from tests.conftest import until

SLO = ["p99<200ms", "errors<1%"]
KNOWN = 200.0


def table_rows(test: LoadTest) -> int:
    value: str = test.capacity.table.value
    return max(0, value.count("<tr>") - 1)


def plain(value: str) -> str:
    return re.sub(r"<[^>]+>", "", value)


def test_the_area_sits_below_start_stop_with_its_defaults() -> None:
    test = LoadTest("http://127.0.0.1:9/", rate=10, duration=5)
    panel = test.capacity
    buttons = next(i for i, c in enumerate(test.children) if test.start_button in
                   getattr(c, "children", ()))
    assert test.children[buttons + 1] is panel.box
    assert panel.slo.value == DEFAULT_SLO and split_slo(DEFAULT_SLO) == SLO
    assert not panel.button.disabled and panel.error.value == ""
    assert test.capacity_result is None


async def test_an_invalid_slo_disables_the_button_with_one_message() -> None:
    test = LoadTest("http://127.0.0.1:9/", rate=10, duration=5)
    panel = test.capacity
    panel.slo.value = "p99<<fast, errors<1%"
    assert panel.button.disabled
    assert plain(panel.error.value).count("Invalid SLO") == 1
    panel.slo.value = ""
    assert panel.button.disabled and "Invalid SLO" in panel.error.value
    with pytest.raises(ValueError):
        await test.find_capacity(["p99 is fast"])
    panel.slo.value = "p99<300ms"
    assert not panel.button.disabled and panel.error.value == ""
    assert not test.start_button.disabled and test.capacity_result is None


async def test_find_capacity_fills_the_table_and_ends_with_a_verdict_and_chart(
        demo_url: str) -> None:
    test = LoadTest(f"{demo_url}capacity?c=4&s_ms=20&q_ms=400", rate=10, duration=5)
    seen: list[tuple[int, bool, bool]] = []  # (table rows, start disabled, stop disabled)
    test.capacity.table.observe(lambda _c: seen.append(
        (table_rows(test), test.start_button.disabled, test.stop_button.disabled)), "value")
    task = asyncio.ensure_future(test.find_capacity(
        SLO, step_duration=1, max_rate=600, start_rate=50, cooldown=0.3, max_steps=10,
        history=False))
    await until(lambda: test.capacity.busy, 2)
    assert test.start_button.disabled and not test.stop_button.disabled
    assert test.capacity.button.disabled
    test.start()  # refused while the search goes on
    assert test.current_run is None and "capacity search" in test.status.value
    cap = await asyncio.wait_for(task, 40)
    assert isinstance(cap, CapacityResult) and test.capacity_result is cap
    print(cap, cap.steps, sep="\n")
    n = len(cap.rows)
    assert 1 <= n <= 10 and table_rows(test) == n
    growing = [rows for rows, _, _ in seen if rows]
    assert growing[: n] == list(range(1, n + 1))  # one row more per finished step
    assert all(start for rows, start, _ in seen if 0 < rows < n)  # Start disabled meanwhile
    verdict = plain(test.capacity.verdict.value)
    assert f"limited by {cap.limited_by}" in verdict and "last good" in verdict
    if cap.limited_by == "slo":
        assert cap.capacity_rps == pytest.approx(KNOWN, rel=0.15)
        assert f"capacity {cap.capacity_rps:,.1f} req/s" in verdict
    charts = test.capacity.chart_box.children
    assert len(charts) == 1 and isinstance(charts[0], BokehModel)
    assert not test.start_button.disabled and test.stop_button.disabled
    assert not test.capacity.busy and not test.capacity.button.disabled


def step_running() -> bool:
    """A step's run is going on (each step is a :class:`~loadnb.runner.run.Run`, a task named
    ``loadnb-run-…`` while it lasts)."""
    return any(t.get_name().startswith("loadnb-run-") for t in asyncio.all_tasks())


async def test_stop_ends_the_search(demo_url: str) -> None:
    test = LoadTest(f"{demo_url}capacity?c=4&s_ms=20&q_ms=400", rate=10, duration=5)
    task = asyncio.ensure_future(test.find_capacity(
        SLO, step_duration=1.5, max_rate=600, start_rate=20, cooldown=0.1, max_steps=6,
        history=False))
    await until(lambda: len(test.capacity.rows) >= 1, 6)
    await until(step_running, 5, what="the second step's run")
    assert test.capacity.busy and not test.stop_button.disabled
    test.stop_button.click()
    cap = await asyncio.wait_for(task, 5)
    assert cap.limited_by == "stopped" and test.capacity_result is cap
    assert len(cap.rows) == table_rows(test) >= 1
    assert "Stopped" in test.capacity.verdict.value and "limited by stopped" in plain(
        test.capacity.verdict.value)
    assert not test.capacity.busy
    assert not test.start_button.disabled and test.stop_button.disabled


async def test_with_workers_every_step_runs_on_the_kernels_cluster(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``workers=N``: the search's steps get the kernel's kept cluster as ``cluster=`` (started
    once, here a stand-in), not a cluster each; the search itself is a stand-in too."""
    from loadnb.ui import capacity_panel, kernel_cluster

    asked: dict[str, object] = {}

    async def up(cluster: object) -> object:
        return cluster

    async def search(*_args: object, **kwargs: object) -> CapacityResult:
        asked.update(kwargs)
        raise LookupError("no search in this test")

    monkeypatch.setattr(kernel_cluster, "started", up)
    monkeypatch.setattr(capacity_panel, "acapacity", search)
    test = LoadTest("http://127.0.0.1:9/", rate=10, duration=5, workers=2)
    try:
        with pytest.raises(LookupError):
            await test.find_capacity(SLO, max_rate=40, step_duration=1)
        assert asked["cluster"] is kernel_cluster.kernel_cluster(2)
        assert asked["workers"] is None and test.spec.workers == 2
    finally:
        kernel_cluster.close_kernel_clusters()
