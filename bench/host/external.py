"""Processes outside a run whose CPU counts toward it (the nats-server a jetstream run uses).

The bench parent names them to every run worker in one environment variable
(``name=pid`` pairs); the worker reads each one's CPU seconds (user + system,
from /proc: 10 ms resolution) at the start and the end of its measured window,
so the work a router hands to a server is measured with the run, not lost.
A process that is gone (or was never there) is left out, never guessed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil  # type: ignore[import-untyped]

from events.errors import ConfigError

#: ``name=pid[,name=pid…]``: the processes whose CPU every run records.
VARIABLE = "SWITCHYARD_BENCH_EXTERNAL_PIDS"


def encode(pids: Mapping[str, int]) -> str:
    """The variable's value for ``pids`` (names may not hold ``=`` or ``,``)."""
    for name in pids:
        if not name or "=" in name or "," in name:
            raise ConfigError(f"external process name {name!r}: no '=' or ',' and not empty")
    return ",".join(f"{name}={pid}" for name, pid in pids.items())


def decode(text: str) -> dict[str, int]:
    """``encode``'s inverse; raise ``ConfigError`` naming the variable on a malformed value."""
    out: dict[str, int] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, pid = part.partition("=")
        if not sep or not name.strip() or not pid.strip().isdigit():
            raise ConfigError(f"{VARIABLE}: {part!r} is not name=pid")
        out[name.strip()] = int(pid)
    return out


class ExternalCpu:
    """CPU seconds of the named processes, sampled on demand."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._procs: dict[str, psutil.Process] = {}
        for name, pid in pids.items():
            try:
                self._procs[name] = psutil.Process(pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    @classmethod
    def from_environment(cls) -> ExternalCpu:
        return cls(decode(os.environ.get(VARIABLE, "")))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._procs)

    def sample(self) -> dict[str, float]:
        """CPU seconds each process has used so far (those still readable)."""
        out: dict[str, float] = {}
        for name, proc in self._procs.items():
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            out[name] = float(times.user + times.system)
        return out

    def since(self, before: Mapping[str, float]) -> dict[str, float]:
        """CPU seconds used since ``before`` (a :meth:`sample`), per process read both times."""
        after = self.sample()
        return {name: max(0.0, after[name] - before[name]) for name in after if name in before}
