"""The widget's offer to run in a worker process (issue 24): when the generator-health alert
fires in a run on the kernel's own loop, an offer with one button shows; one click stops the run
and starts the same test with ``workers=1`` on the kernel's kept cluster. The restarted run's
backend is a stand-in (the engine in this process) that records what it was asked to run on:
no Dask here (tests/ui/test_widget_kernel_cluster.py runs on a real cluster)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from loadnb.engine.backend import Backend, LocalBackend
from loadnb.record.state import RunState
from loadnb.record.update import Update
from loadnb.rules.alert_engine import AlertEvent
from loadnb.spec.config import LoadSpec, make_spec
from loadnb.transport import make_transport
from loadnb.ui import LoadTest
from loadnb.ui.kernel_cluster import KernelRun, close_kernel_clusters, kernel_cluster
from loadnb.ui.offer import OFFER_TEXT, WorkerOffer
from tests.conftest import until
from tests.ui.widget_helpers import FAST, snap


def fired(rule: str) -> Update:
    """An update whose interval fired ``rule``."""
    event = AlertEvent(rule, "the loop runs late", 1.0)
    return Update(snap(), RunState.RUNNING, {}, {}, (), (event,), (), (event,), (), (), (), {})


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[LoadSpec]]:
    """The specs the widget's runs were asked to run, each run then in this process."""
    specs: list[LoadSpec] = []

    async def in_this_process(self: KernelRun) -> Backend:
        specs.append(self.spec)
        local = LocalBackend(dataclasses.replace(self.spec, cluster=None), make_transport,
                             self._clock, warn=self.monitor.warn)
        await local.open()
        self._backend = local
        return local

    monkeypatch.setattr(KernelRun, "_open_backend", in_this_process)
    yield specs
    close_kernel_clusters()


def test_the_offer_shows_when_the_loop_alert_fires_in_a_run_on_the_kernel() -> None:
    offer = WorkerOffer(lambda: None)
    in_kernel = make_spec("http://127.0.0.1:9/", users=2, duration="2s")
    assert not offer.visible and OFFER_TEXT in offer.text.value
    offer.consider(fired("low_success_rate"), in_kernel)
    assert not offer.visible  # not the generator's health
    offer.consider(fired("generator_lag"), make_spec("http://127.0.0.1:9/", users=2,
                                                     duration="2s", workers=1))
    assert not offer.visible  # already in a worker process
    offer.consider(fired("generator_lag"), in_kernel)
    assert offer.visible
    offer.hide()
    assert not offer.visible


@pytest.mark.slow  # two runs end in the widget (about 1.5 s each: the final charts, the resend)
async def test_one_click_stops_the_run_and_starts_it_with_one_worker(
        server: str, asked: list[LoadSpec]) -> None:
    test = LoadTest(server, users=2, duration=10, history="off", **FAST)
    assert test.offer.box in test.children and not test.offer.visible
    test.start()
    first = test.current_run
    assert first is not None
    await until(lambda: len(first.snapshots) >= 1)
    test._on_update(first, fired("generator_lag"))  # the kernel's loop is late
    assert test.offer.visible
    test.offer.button.click()
    await asyncio.wait_for(first.wait(), 5)
    await until(lambda: test.current_run is not first, what="the test started again")
    second = test.current_run
    assert second is not None and second.state == "running"
    assert first.result.state == "stopped" and test.results == [first.result, second.result]
    assert not test.offer.visible
    assert [(s.workers, s.cluster) for s in asked] == [(None, None), (None, kernel_cluster(1))]
    assert test.spec.workers == 1 and test.spec.users == 2  # the same test, from now on
    await until(lambda: len(second.snapshots) >= 1)
    test.stop()
    assert (await asyncio.wait_for(test.wait(), 5)).state == "stopped"
