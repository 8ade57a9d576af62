"""The first-come-first-served pool both transports share (``loadnb/transport/pool.py``), on its
own: plain asyncio tasks and futures, no sockets. Each test steps the loop by hand
(``asyncio.sleep(0)``), so the order of events is the one written, not a race.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from loadnb.transport.pool import FifoPool

FAR = 60.0  # a deadline no test reaches


def later(seconds: float = FAR) -> float:
    return time.monotonic() + seconds


async def steps(n: int = 3) -> None:
    """Let every task that can run, run (a hand-over resumes its waiter on the next step)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Conn:
    """An item: anything the pool hands out again (a kept-alive connection, for the transport)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


async def full(limit: int = 1) -> FifoPool[Conn]:
    """A pool whose ``limit`` slots are all held."""
    pool: FifoPool[Conn] = FifoPool(limit)
    for _ in range(limit):
        assert await pool.acquire(later()) is None  # a free slot: no wait, nothing handed
    assert pool.held == limit
    return pool


async def queue(pool: FifoPool[Conn], names: str) -> dict[str, asyncio.Task[Conn | None]]:
    """One waiting task per letter of ``names``, queued in that order."""
    tasks, before = {}, pool.waiting
    for name in names:
        tasks[name] = asyncio.ensure_future(pool.acquire(later()))
        await steps(1)
    assert pool.waiting == before + len(names)
    return tasks


async def test_free_slots_and_idle_items_are_taken_without_waiting() -> None:
    pool: FifoPool[Conn] = FifoPool(2)
    assert await pool.acquire(later()) is None and await pool.acquire(later()) is None
    a, b = Conn("a"), Conn("b")
    pool.release(a)
    pool.release(b)
    assert list(pool.idle) == [a, b] and pool.held == 2  # idle items keep their slots
    assert await pool.acquire(later()) is b  # the one given back last first
    assert pool.forget(a) and not pool.forget(a) and not pool.idle
    pool.release_slot()  # a closed: its slot is free
    assert pool.held == 1 and pool.waiting == 0


async def test_without_a_limit_nobody_ever_waits() -> None:
    pool: FifoPool[Conn] = FifoPool()
    for _ in range(1000):
        assert await pool.acquire(later()) is None
    assert pool.held == 1000 and pool.waiting == 0


async def test_waiters_are_served_first_come_first_served() -> None:
    pool = await full()
    tasks = await queue(pool, "wxyz")
    served = []
    for i in range(4):
        item = Conn(f"c{i}")
        if i % 2:
            pool.release_slot()  # a slot (the connection closed), or an item (kept alive)
        else:
            pool.release(item)
        await steps()
        done = [name for name, task in tasks.items() if task.done() and name not in served]
        assert len(done) == 1, done
        served += done
        assert tasks[done[0]].result() is (None if i % 2 else item)
    assert served == ["w", "x", "y", "z"]
    assert pool.waiting == 0 and pool.held == 1 and not pool.idle


async def test_a_freed_slot_is_kept_for_the_first_waiter_even_if_someone_asks_later() -> None:
    """The task that frees a slot (its connection closed) asks again at once, before the waiter
    it was handed to runs: it must queue behind, not take the slot back."""
    pool = await full()
    (first,) = (await queue(pool, "w")).values()
    pool.release_slot()
    assert pool.held == 1  # reserved for the waiter, not free
    later_caller = asyncio.ensure_future(pool.acquire(later()))  # runs before `first` resumes
    await steps()
    assert first.done() and first.result() is None  # the waiter holds the slot
    assert not later_caller.done() and pool.waiting == 1 and pool.held == 1
    pool.release(Conn("c"))
    await steps()
    assert later_caller.done() and later_caller.result() is not None
    assert pool.waiting == 0


async def test_a_given_back_item_is_kept_for_the_first_waiter_too() -> None:
    pool = await full()
    (first,) = (await queue(pool, "w")).values()
    item = Conn("c")
    pool.release(item)
    assert not pool.idle  # handed over, not idle
    later_caller = asyncio.ensure_future(pool.acquire(later()))
    await steps()
    assert first.result() is item and not later_caller.done()
    later_caller.cancel()
    await steps()
    assert pool.waiting == 0


async def test_a_wait_past_its_deadline_raises_timeout_and_leaves_the_queue() -> None:
    pool = await full()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no free connection"):
        await pool.acquire(time.monotonic() + 0.01)
    assert 0.005 < time.monotonic() - t0 < 5  # not before its deadline; the bound: a hang
    assert pool.waiting == 0
    pool.release_slot()  # nobody left waiting: the slot is free, not handed to the one gone
    assert pool.held == 0
    assert await pool.acquire(time.monotonic() - 1) is None  # a past deadline: only if it waits


async def test_a_timed_out_waiter_is_skipped_and_the_next_one_served() -> None:
    pool = await full()
    gone = asyncio.ensure_future(pool.acquire(time.monotonic() - 1))  # its timer fires at once
    await steps(1)
    (next_one,) = (await queue(pool, "x")).values()
    await steps()
    assert isinstance(gone.exception(), TimeoutError)
    assert pool.waiting == 1
    pool.release_slot()
    await steps()
    assert next_one.result() is None and pool.held == 1 and pool.waiting == 0


async def test_a_waiter_cancelled_before_its_turn_is_skipped() -> None:
    pool = await full()
    tasks = await queue(pool, "wx")
    tasks["w"].cancel()
    await steps()
    assert pool.waiting == 1
    item = Conn("c")
    pool.release(item)
    await steps()
    assert tasks["x"].result() is item and pool.waiting == 0


@pytest.mark.parametrize("handed", ["item", "slot"])
async def test_a_waiter_cancelled_after_the_hand_over_passes_it_on(handed: str) -> None:
    """Cancelled (the run stops) after the pool handed it something but before it ran: what it
    was handed goes to the next waiter, or back to the pool; nothing is lost."""
    pool = await full()
    tasks = await queue(pool, "wx")
    item = Conn("c")
    pool.release(item) if handed == "item" else pool.release_slot()
    tasks["w"].cancel()  # in the same step: `w` has its result and has not resumed yet
    await steps()
    assert tasks["w"].cancelled()
    assert tasks["x"].result() is (item if handed == "item" else None)
    assert pool.waiting == 0 and pool.held == 1

    # Nobody else waiting: the item goes idle, the slot becomes free.
    (alone,) = (await queue(pool, "y")).values()
    pool.release(item) if handed == "item" else pool.release_slot()
    alone.cancel()
    await steps()
    assert alone.cancelled() and pool.waiting == 0
    if handed == "item":
        assert list(pool.idle) == [item] and pool.held == 1
    else:
        assert not pool.idle and pool.held == 0
    assert await pool.acquire(later()) is (item if handed == "item" else None)


async def test_a_subclass_decides_what_a_passed_on_item_becomes() -> None:
    """The pool gives a passed-on item back through ``release``, which a transport overrides
    (the fast transport closes a connection that cannot carry another request)."""
    closed: list[Conn] = []

    class Closing(FifoPool[Conn]):
        def release(self, item: Conn) -> None:
            closed.append(item)
            self.release_slot()

    pool: Closing = Closing(1)
    assert await pool.acquire(later()) is None
    tasks = await queue(pool, "wx")
    item = Conn("c")
    FifoPool.release(pool, item)  # handed to `w` as is...
    tasks["w"].cancel()  # ...which gives it up: the override closes it, its slot goes on to `x`
    await steps()
    assert closed == [item] and tasks["x"].result() is None
    assert pool.waiting == 0 and pool.held == 1


async def test_waiting_counts_waiters_and_comes_back_to_zero() -> None:
    pool = await full(2)
    tasks = await queue(pool, "abcdef")
    assert pool.waiting == 6
    pool.release_slot()
    pool.release(Conn("c"))
    tasks["c"].cancel()
    await steps()
    assert pool.waiting == 3  # a, b served; c cancelled; d, e, f wait
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert pool.waiting == 0
    assert pool.held == 2  # a and b hold theirs (d, e, f never got one)
