"""The pool both transports share: a capped number of slots, handed out first come, first served.

A *slot* is the right to hold one connection (the fast transport opens a connection in it) or to
have one request in flight (the aiohttp transport's turns, when its pool is capped). An *item* is
something reusable that holds a slot: a kept-alive connection of the fast transport. The rules:

- **First come, first served.** A caller waits only when no item is idle and every slot is held;
  while anyone waits, no slot is free and no item is idle. So a caller never overtakes a waiter.
- **Hand-over.** An item given back, or a slot given up, goes to the first live waiter at once;
  the slot stays held on that waiter's behalf (it is *reserved* for it) until the waiter runs, so
  a task that asks in between (typically the one that just gave it up) cannot take it. Only when
  nobody waits does an item go idle or a slot become free.
- **The wait counts toward the request's timeout.** A waiter gives up at the request's deadline
  with :class:`TimeoutError` (:func:`~loadnb.transport.base.no_free_connection`), or when its task
  is cancelled. One handed something just before it gave up passes it on (to the next waiter, or
  back to the pool): nothing handed out is ever lost, and no slot leaks.
- :attr:`FifoPool.waiting` counts the callers waiting right now (a transport's ``waiting``).

Both transports *are* a :class:`FifoPool` (``FastTransport(FifoPool[Conn])``,
``AiohttpTransport(FifoPool[NoReturn])``) rather than holding one: the :class:`Transport` protocol
declares ``waiting`` as a plain attribute, which a delegating property would not satisfy.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from typing import Generic, TypeVar

from .base import no_free_connection

__all__ = ["FifoPool"]

T = TypeVar("T")


class FifoPool(Generic[T]):
    """``limit`` slots (``math.inf``: no cap, nobody ever waits), idle items of type ``T``, and
    the callers waiting for either, served in the order they came.

    Example (the fast transport's use)::

        conn = await pool.acquire(deadline)   # an idle connection, or None: a slot is ours
        if conn is None:
            try:
                conn = await open_connection()
            except BaseException:
                pool.release_slot()           # the slot goes to the next waiter, or is free
                raise
        ...
        pool.release(conn)                    # to the next waiter, or idle
        # once conn is closed: pool.forget(conn); pool.release_slot()
    """

    def __init__(self, limit: float = math.inf) -> None:
        self.limit = limit
        #: Slots held: by items (idle or in use), by callers making one, by callers on a turn,
        #: and by waiters that were handed one and have not run yet.
        self.held = 0
        #: Items ready for reuse, the one given back last on the right: it is taken first (LIFO),
        #: so the ones idle longest are on the left (the fast transport's sweeper expires them).
        self.idle: deque[T] = deque()
        #: Callers waiting right now.
        self.waiting = 0
        # Every waiter's future in arrival order; those that gave up stay until popped (skipped).
        self._waiters: deque[asyncio.Future[T | None]] = deque()

    async def acquire(self, deadline: float) -> T | None:
        """An idle item, or None when a slot is now held for the caller (to make an item in, or
        as its turn); wait first come, first served when neither is free.

        ``deadline`` is a :func:`time.monotonic` time: waiting past it raises
        :class:`TimeoutError`. The caller must, in the end, give back what it got: the item with
        :meth:`release`, a slot with :meth:`release_slot` (or keep it in an item it made).
        """
        if self.idle:
            return self.idle.pop()
        if self.held < self.limit:
            self.held += 1
            return None
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T | None] = loop.create_future()
        self._waiters.append(fut)
        self.waiting += 1
        timer = loop.call_later(max(0.0, deadline - time.monotonic()), no_free_connection, fut)
        try:
            return await fut
        except BaseException:
            # Given up (cancelled) just after something was handed to us: pass it on.
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                handed = fut.result()
                if handed is None:
                    self.release_slot()
                else:
                    self.release(handed)
            raise
        finally:
            timer.cancel()
            self.waiting -= 1

    def release(self, item: T) -> None:
        """Give back a reusable ``item`` (its slot with it): to the first live waiter, else
        idle. Subclasses may close an item that cannot be reused instead (the pool calls this too
        when a waiter that was handed ``item`` gives up)."""
        waiters = self._waiters
        while waiters:  # (inline, not a helper: the fast transport's send() path runs this)
            fut = waiters.popleft()
            if not fut.done():  # else it gave up: skip it
                fut.set_result(item)
                return
        self.idle.append(item)

    def release_slot(self) -> None:
        """Give up a held slot (a turn ended, an item closed, making one failed): it stays held
        for the first live waiter, or becomes free when nobody waits."""
        waiters = self._waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.held -= 1

    def forget(self, item: T) -> bool:
        """Take ``item`` out of the idle ones if it is there (it closed, or must not be reused);
        its slot is still held until :meth:`release_slot`. Whether it was idle."""
        try:
            self.idle.remove(item)
        except ValueError:
            return False
        return True
