"""The fault suite's subprocesses: the daemon and the witness, each announcing its port.

Both print ``listening http://HOST:PORT`` on stdout once they accept connections
(the daemon after replaying its journal), so a start is a readiness handshake
on that line, never a sleep. A reader task keeps draining stdout afterwards, so
the pipe never fills, and keeps the daemon's ``final {json}`` line. stderr (the
daemon's JSON log) goes to a file in the case's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from events.errors import SwitchyardError

LISTENING = "listening "
FINAL = "final "


class StartFailed(SwitchyardError):
    """Raised when a subprocess exits or stays silent before printing its listening line."""


class Child:
    """A running subprocess of the suite, its URL, and the lines it printed after starting."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, url: str) -> None:
        self.name = name
        self.proc = proc
        self.url = url
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def signal(self, signum: int) -> None:
        """Send ``signum`` unless the process already ended."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    async def wait(self, timeout_s: float) -> int | None:
        """The exit code once the process ends, None if it is still running after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                code = await self.proc.wait()
                await self._reader
        except TimeoutError:
            return None
        return code

    async def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL if it has not ended within ``timeout_s``; answers the exit code."""
        self.signal(signal.SIGTERM)
        code = await self.wait(timeout_s)
        if code is None:
            self.signal(signal.SIGKILL)
            code = await self.proc.wait()
            await self._reader
        return code

    def final(self) -> dict[str, Any] | None:
        """The daemon's ``final {json}`` report, if it printed one."""
        for line in reversed(self.lines):
            if line.startswith(FINAL):
                report: dict[str, Any] = json.loads(line[len(FINAL) :])
                return report
        return None


async def start(name: str, argv: list[str], log: Path, timeout_s: float) -> Child:
    """Start ``argv`` (a Python module's command line) and wait for its listening line."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=err, stdin=asyncio.subprocess.DEVNULL
        )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    code = await proc.wait()
                    raise StartFailed(f"{name} exited ({code}) before listening; see {log}")
                line = raw.decode(errors="replace")
                if line.startswith(LISTENING):
                    return Child(name, proc, line.split()[1])
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StartFailed(f"{name} printed no listening line within {timeout_s:g} s") from None


async def start_daemon(config: Path, log: Path, timeout_s: float) -> Child:
    """``python -m daemon --config CONFIG --port 0``; ready once it listens (replay done)."""
    argv = [sys.executable, "-m", "daemon", "--config", str(config), "--port", "0"]
    return await start("daemon", argv, log, timeout_s)


async def start_witness(out: Path, mode: str, delay_ms: float, log: Path) -> Child:
    """The witness webhook receiver (bench/http/witness.py) recording into ``out``."""
    argv = [sys.executable, "-m", "bench.http.witness", "--out", str(out), "--mode", mode]
    argv += ["--delay-ms", str(delay_ms)]
    return await start("witness", argv, log, 30.0)
