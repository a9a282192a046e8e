"""Live progress of a comparison on stderr: rich on a terminal, plain lines otherwise.

Plain lines are used when stderr is not a TTY or ``CI=true``, so logs stay readable.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from bench.run.runner import Progress
from bench.schema import RunResult


def wants_plain(stream: TextIO) -> bool:
    return os.environ.get("CI", "").lower() == "true" or not stream.isatty()


class RunProgress(Progress):
    """Counts runs and estimates the time remaining from the runs done so far."""

    def __init__(self, total_runs: int, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total_runs
        self.done = 0
        self.began = time.monotonic()
        self.spent = 0.0
        self.current = ""
        self.plain = wants_plain(self.stream)
        self._live: Live | None = None

    def __enter__(self) -> RunProgress:
        if not self.plain:
            self._live = Live(
                Text(""), console=Console(file=self.stream), refresh_per_second=4, transient=True
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def remaining_s(self) -> float | None:
        if not self.done:
            return None
        return self.spent / self.done * (self.total - self.done)

    def line(self) -> str:
        elapsed = time.monotonic() - self.began
        remaining = self.remaining_s()
        left = f"~{remaining:.0f} s left" if remaining is not None else "estimating"
        return f"[{self.done + 1}/{self.total}] {self.current} | elapsed {elapsed:.0f} s, {left}"

    def started(self, block: int, blocks: int, arch: str, warmup: bool) -> None:
        kind = "warm-up" if warmup else "run"
        self.current = f"block {block + 1}/{blocks} {kind} {arch}"
        if self._live is not None:
            self._live.update(Text(self.line()))
        else:
            print(self.line(), file=self.stream, flush=True)

    def planned(self, more: int) -> None:
        self.total += more

    def finished(self, arch: str, result: RunResult | None, seconds: float) -> None:
        self.done += 1
        self.spent += seconds
        if result is not None and not result.valid:
            message = f"  {arch}: INVALID: {'; '.join(result.reasons)}"
            if self._live is not None:
                self._live.console.print(message, markup=False, highlight=False)
            else:
                print(message, file=self.stream, flush=True)
