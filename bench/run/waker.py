"""Precise waits on the event loop, without spinning: a Linux timerfd the loop watches.

Event-loop timers resolve about 1 ms here, so an open-loop generator either
oversleeps or polls with ``sleep(0)``; polling keeps a core busy, which would
make every run's CPU seconds equal its wall time and hide the routers' real
cost. A timerfd armed at an absolute CLOCK_MONOTONIC instant (the clock behind
``time.perf_counter_ns``) becomes readable at that instant, and the loop wakes
on it like on any socket: microsecond precision, no CPU burnt while waiting.
:func:`open_waker` returns ``None`` where timerfd is unavailable; the generator
then falls back to timed sleeps and ``sleep(0)`` polling.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys
import time

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1
_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_NS = 1_000_000_000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerfdWaker:
    """Waits until an absolute ``perf_counter_ns`` instant. One waiter at a time."""

    def __init__(self, libc: ctypes.CDLL, fd: int) -> None:
        self._settime = libc.timerfd_settime
        self._fd = fd
        self._spec = _Itimerspec()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_readable(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let ``loop`` watch the timer; call once, from inside the loop."""
        self._loop = loop
        loop.add_reader(self._fd, self._on_readable)

    async def wait_until(self, t_ns: int) -> None:
        """Return at ``t_ns`` (perf_counter_ns) or at once if it has passed."""
        assert self._loop is not None, "attach() the waker first"
        value = self._spec.it_value
        t_ns = max(t_ns, 1)  # zero would disarm the timer
        value.tv_sec, value.tv_nsec = divmod(t_ns, _NS)
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._fd)
            self._loop = None
        os.close(self._fd)


def open_waker() -> TimerfdWaker | None:
    """A timerfd waker, or ``None`` when this platform cannot give one."""
    if not sys.platform.startswith("linux"):
        return None
    if time.get_clock_info("perf_counter").implementation != "clock_gettime(CLOCK_MONOTONIC)":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_CLOEXEC | _TFD_NONBLOCK)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    return TimerfdWaker(libc, fd)
