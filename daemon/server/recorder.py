"""The daemon's trace recorder: the ingress offers accepted events, a task writes them.

The ingress calls :meth:`Recorder.offer_nowait` with the events of each request it
accepted, only while recording. That samples them and, for the kept ones, appends
their trace lines (one ``encode_lines`` call per request, while the events are still
in the CPU's cache) to a bounded buffer. When the buffer is full the sampled events
are counted as dropped (``switchyard_record_dropped``): recording is sampling, it
never slows or refuses intake. A writer task hands what is buffered to a thread,
which hashes and writes it and finishes and rotates the files. ``start`` and ``stop``
switch it at run time (``POST /v1/record:start`` / ``:stop``); ``stop`` returns once
every buffered event is written and the last file is finished and rotated into place.

Holding the events themselves for the writer (a tuple per request) measured costlier
(docs/benchmarks.md): the writer then walks and frees objects that have left the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

from daemon.server.config import RecordConfig
from daemon.server.logs import get_logger
from daemon.server.metrics import ServerMetrics
from daemon.server.record import Close, Cutter, Lines, Piece, Sampler
from daemon.server.record_files import TraceFiles
from events.model import Event

log = get_logger("daemon.server.record")

OFF = "off"
RECORDING = "recording"
FAILED = "failed"


class Recorder:
    """Samples accepted events into trace files while :attr:`active`."""

    def __init__(self, config: RecordConfig, metrics: ServerMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.active = False
        self.state = OFF
        self.error = ""
        self.buffered = 0
        self.recorded = 0
        self.dropped = 0
        self._in_flight = 0
        self._unfinished = 0
        self._pieces: list[Piece] = []
        self._cutter = self._new_cutter()
        self._wake_at = max(1, config.buffer // 2)
        self._sampler = Sampler(config.sample, config.seed)
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.files = TraceFiles(
            config.path,
            files=config.files,
            payloads=config.payloads,
            source=f"switchyard daemon on {socket.gethostname()}",
        )

    # -- the hot path --------------------------------------------------------------

    def offer_nowait(self, events: list[Event]) -> None:
        """Sample ``events`` (accepted, in arrival order) into the buffer; never blocks."""
        if not self.active:
            return
        kept = self._sampler.pick_nowait(events)
        if not kept:
            return
        room = self.config.buffer - self.buffered
        if len(kept) > room:
            lost = len(kept) - max(room, 0)
            self.dropped += lost
            self.metrics.record_dropped += lost
            if room <= 0:
                return
            kept = kept[:room]
        self.buffered += len(kept)
        self._pieces += self._cutter.cut_nowait([(time.monotonic_ns(), kept)])
        if self.buffered >= self._wake_at:
            self._wake.set()

    def _new_cutter(self) -> Cutter:
        config = self.config
        return Cutter(
            config.max_bytes // (config.files + 1),
            payloads=config.payloads,
            wall_offset_ns=time.time_ns() - time.monotonic_ns(),
        )

    # -- run-time switch -------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Begin a new recording (a fresh sampler from the seed); a no-op while recording."""
        async with self._lock:
            if self.active:
                return self.status()
            if await asyncio.to_thread(self.files.stale_partial):
                log.warning(
                    "an unfinished recording file of an earlier process was discarded",
                    path=str(self.files.partial),
                )
                await asyncio.to_thread(self.files.abort)
            self._sampler = Sampler(self.config.sample, self.config.seed)
            self._cutter = self._new_cutter()
            self.recorded = self.dropped = self._in_flight = self._unfinished = 0
            self.error = ""
            self.state = RECORDING
            self.active = True
            self.metrics.record_active = 1
            self._task = asyncio.create_task(self._write(), name="recorder")
            log.info("recording started", path=self.config.path, sample=self.config.sample)
            return self.status()

    async def stop(self) -> dict[str, Any]:
        """Stop sampling, write what is buffered, finish the last file; answer the status."""
        async with self._lock:
            self.active = False
            self._wake.set()
            task, self._task = self._task, None
            if task is not None:
                await task
            if self.state == RECORDING:
                self.state = OFF
            self.metrics.record_active = 0
            log.info("recording stopped", recorded=self.recorded, dropped=self.dropped)
            return self.status()

    def status(self) -> dict[str, Any]:
        """The recorder's state for ``/v1/status`` and the record routes."""
        return {
            "state": self.state,
            "path": self.config.path,
            "sample": self.config.sample,
            "seed": self.config.seed,
            "payloads": self.config.payloads,
            "offered": self._sampler.seen,
            "recorded": self.recorded,
            "dropped": self.dropped,
            "buffered": self.buffered,
            "bytes_written": self.files.bytes_written,
            "rotations": self.files.rotations,
            "files": self.files.on_disk(),
            "error": self.error,
        }

    # -- the writer ------------------------------------------------------------------

    def _take_nowait(self) -> list[Piece]:
        """Everything buffered, oldest first."""
        pieces, self._pieces = self._pieces, []
        n = sum(p.events for p in pieces if isinstance(p, Lines))
        self.buffered -= n
        self._in_flight = n
        return pieces

    async def _write(self) -> None:
        try:
            while True:
                while self._pieces:
                    await self._apply(self._take_nowait())
                if not self.active:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.flush_interval_s):
                        await self._wake.wait()
            closing = self._cutter.close_nowait()
            if closing is not None:
                await self._apply([closing])
        except OSError as exc:
            self._fail(exc)
            await asyncio.to_thread(self.files.abort)

    async def _apply(self, pieces: list[Piece]) -> None:
        before = self.files.bytes_written
        finished = await asyncio.to_thread(self.files.apply, pieces)
        written = 0
        for piece in pieces:
            if isinstance(piece, Lines):
                written += piece.events
                self._unfinished += piece.events
            elif isinstance(piece, Close):
                self._unfinished = 0
        self._in_flight = 0
        self.recorded += written
        m = self.metrics
        m.record_events += written
        m.record_bytes += self.files.bytes_written - before
        m.record_rotations += len(finished)
        for header in finished:
            log.info("recording file finished", path=self.config.path, events=header.events)

    def _fail(self, exc: OSError) -> None:
        # The buffer, the chunk being written and the unfinished file's events are lost
        # to the recording (the file is deleted), and counted as dropped.
        lost = self.buffered + self._in_flight + self._unfinished
        self.recorded -= self._unfinished
        self._pieces.clear()
        self._cutter.close_nowait()
        self.buffered = self._in_flight = self._unfinished = 0
        self.dropped += lost
        self.metrics.record_dropped += lost
        self.active = False
        self.metrics.record_active = 0
        self.state = FAILED
        self.error = f"{type(exc).__name__}: {exc}"
        log.error("recording failed; stopped", path=self.config.path, error=self.error)
