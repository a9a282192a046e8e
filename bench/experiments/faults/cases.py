"""The faults of the in-process (``memory``) transport, one coroutine each, and their sizes.

Every case has one subscriber, a webhook (config.py), so every accepted event
has one delivery to account for, and ends with the daemon stopped and its files
counted (ledger.py):

- ``kill-9``: journal on, witness answering at once; SIGKILL halfway through the
  load (the rest of the load meets a dead port), restart on the same journal,
  replay, then a second load (a third the size, fresh ids) while the replayed
  events are still being delivered, settle, SIGTERM.
- ``sigterm-backlog``: journal off, a witness slower than the load (one request at
  a time, each answered after a delay) so the backlog passes 20,000; SIGTERM.
- ``subscriber-down``: journal off, the webhook points at a closed port (bound, not
  listening: connections are refused) for the whole load; SIGTERM.
- ``hanging-subscriber``: journal off, the witness records each POST and never
  answers; the subscription's timeout ends each attempt; SIGTERM.
- ``full-disk``: journal on a small tmpfs (disk.py) that fills during the load,
  witness answering at once; settle, SIGTERM; skipped with the reason when no
  tmpfs can be mounted.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from bench.experiments.faults import ledger
from bench.experiments.faults.disk import NoSmallDisk, small_disk
from bench.experiments.faults.trial import Trial

#: The backlog the SIGTERM case must build (issue 12: "a backlog over 20,000").
BACKLOG_TARGET = 20_000


class Sizes(msgspec.Struct, frozen=True):
    """Events and rates of each case; ``drain_cap_s`` caps the config's drain timeout."""

    kill_events: int
    kill_rate: float
    backlog_events: int
    backlog_rate: float
    down_events: int
    down_rate: float
    hang_events: int
    hang_rate: float
    disk_events: int
    disk_rate: float
    disk_bytes: int
    drain_cap_s: float | None
    settle_s: float


#: The full suite: the issue's shapes (a dead webhook for ~25 s, a 30,000-event backlog).
FULL = Sizes(
    kill_events=30_000,
    kill_rate=3_000.0,
    backlog_events=30_000,
    backlog_rate=10_000.0,
    down_events=15_000,
    down_rate=600.0,
    hang_events=12_000,
    hang_rate=1_000.0,
    disk_events=10_000,
    disk_rate=2_000.0,
    disk_bytes=2 * 2**20,
    drain_cap_s=None,
    settle_s=120.0,
)

#: ``--short``, for ``make test``: a few seconds per case, the backlog still over 20,000.
SHORT = Sizes(
    kill_events=4_000,
    kill_rate=2_000.0,
    backlog_events=24_000,
    backlog_rate=12_000.0,
    down_events=3_000,
    down_rate=1_500.0,
    hang_events=3_000,
    hang_rate=1_500.0,
    disk_events=3_000,
    disk_rate=1_500.0,
    disk_bytes=512 * 1024,
    drain_cap_s=2.0,
    settle_s=30.0,
)

Case = Callable[[Trial, Sizes], Awaitable[ledger.FaultRow]]


def _stop_timeout(trial: Trial) -> float:
    """How long a SIGTERM may take: the drain timeout the daemon was given, plus start-up slack."""
    lifecycle: dict[str, Any] = trial.base.get("lifecycle", {})
    return float(lifecycle.get("drain_timeout_s", 10.0)) + 60.0


def _row(
    trial: Trial,
    description: str,
    tally: ledger.Tally,
    code: int | None,
    final: dict[str, Any] | None,
    notes: tuple[str, ...] = (),
    **extra: Any,
) -> ledger.FaultRow:
    errors = trial.logged_errors()
    notes += (f"the daemon logged {errors} error lines",)
    return ledger.judge(
        trial.name,
        "memory",
        description,
        tally,
        code,
        final,
        duration_s=trial.elapsed(),
        notes=notes,
        **extra,
    )


async def kill9(trial: Trial, sizes: Sizes) -> ledger.FaultRow:
    journal = trial.dir / "journal" / "events.jsonl"
    url = await trial.start_witness("ok")
    path = trial.write_config(url, {"concurrency": 16}, journal, sizes.drain_cap_s)
    first = await trial.start_daemon(path)
    at_s = sizes.kill_events / sizes.kill_rate / 2

    def kill() -> None:
        trial.say(f"SIGKILL to pid {first.pid} at {at_s:g} s")
        first.signal(signal.SIGKILL)

    await trial.load(first, sizes.kill_events, sizes.kill_rate, at_s, kill)
    killed = await first.wait(30.0)
    trial.say(f"killed daemon exited {killed}; restarting on the same journal")
    second = await trial.start_daemon(path)  # listening means the replay is done
    status = await trial.status(second)
    replayed = (status or {}).get("journal", {}) or {}
    trial.say(f"replayed {replayed.get('replayed')} events")
    # New load on top of the replay: the restarted daemon must take both without mixing up
    # what it replays with what it is newly given.
    resumed = await trial.load(second, sizes.kill_events // 3, sizes.kill_rate)
    await trial.settle(second, sizes.settle_s)
    code, final = await trial.terminate(second, _stop_timeout(trial))
    await trial.close()
    notes = (
        f"first daemon killed (exit {killed}), replayed {replayed.get('replayed')}",
        f"after the restart {len(resumed.accepted_ids):,} of {resumed.events:,} new events"
        f" accepted: {resumed.outcomes}",
    )
    return _row(
        trial,
        "kill -9 mid-load, restart with the journal, replay",
        trial.count(journal),
        code,
        final,
        notes=notes,
    )


async def sigterm_backlog(trial: Trial, sizes: Sizes) -> ledger.FaultRow:
    url = await trial.start_witness("slow", delay_ms=2.0)
    path = trial.write_config(url, {"concurrency": 1}, None, sizes.drain_cap_s)
    daemon = await trial.start_daemon(path)
    await trial.load(daemon, sizes.backlog_events, sizes.backlog_rate)
    backlog = await trial.pending(daemon)
    trial.say(f"backlog {backlog} at SIGTERM")
    code, final = await trial.terminate(daemon, _stop_timeout(trial))
    await trial.close()
    notes: tuple[str, ...] = ()
    if backlog is None or backlog <= BACKLOG_TARGET:
        notes = (f"the backlog reached only {backlog}, not over {BACKLOG_TARGET:,}",)
    return _row(
        trial,
        f"SIGTERM with a backlog over {BACKLOG_TARGET:,}, journal off",
        trial.count(None),
        code,
        final,
        backlog_at_fault=backlog,
        notes=notes,
    )


async def subscriber_down(trial: Trial, sizes: Sizes) -> ledger.FaultRow:
    # Bound but not listening: every connection is refused, and no other process can
    # take the port while the case runs.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hook"
        trial.say(f"webhook at {url} (connections refused)")
        policy = {"concurrency": 4, "timeout_s": 1.0}
        path = trial.write_config(url, policy, None, sizes.drain_cap_s)
        daemon = await trial.start_daemon(path)
        await trial.load(daemon, sizes.down_events, sizes.down_rate)
        backlog = await trial.pending(daemon)
        code, final = await trial.terminate(daemon, _stop_timeout(trial))
    await trial.close()
    return _row(
        trial,
        "the subscriber's endpoint down (closed port), then SIGTERM",
        trial.count(None),
        code,
        final,
        backlog_at_fault=backlog,
    )


async def hanging(trial: Trial, sizes: Sizes) -> ledger.FaultRow:
    url = await trial.start_witness("hang")
    policy = {"concurrency": 8, "timeout_s": 0.5, "retry": {"attempts": 2}}
    path = trial.write_config(url, policy, None, sizes.drain_cap_s)
    daemon = await trial.start_daemon(path)
    await trial.load(daemon, sizes.hang_events, sizes.hang_rate)
    backlog = await trial.pending(daemon)
    code, final = await trial.terminate(daemon, _stop_timeout(trial))
    await trial.close()
    notes = ("delivered = POSTs the witness received and never answered",)
    return _row(
        trial,
        "a subscriber that never answers (0.5 s timeout), then SIGTERM",
        trial.count(None),
        code,
        final,
        backlog_at_fault=backlog,
        notes=notes,
    )


async def full_disk(trial: Trial, sizes: Sizes) -> ledger.FaultRow:
    description = f"the journal on a {sizes.disk_bytes // 1024} KiB tmpfs that fills up"
    try:
        with small_disk(trial.dir / "disk", sizes.disk_bytes) as disk:
            journal = disk / "events.jsonl"
            try:
                url = await trial.start_witness("ok")
                policy = {"concurrency": 16}
                path = trial.write_config(url, policy, journal, sizes.drain_cap_s)
                daemon = await trial.start_daemon(path)
                offered = await trial.load(daemon, sizes.disk_events, sizes.disk_rate)
                st = os.statvfs(disk)
                trial.say(f"{st.f_bavail * st.f_frsize // 1024} KiB free on the journal's disk")
                await trial.settle(daemon, sizes.settle_s)
                code, final = await trial.terminate(daemon, _stop_timeout(trial))
            finally:
                await trial.close()  # before the unmount: nothing may hold the file system
            tally = trial.count(journal)
    except NoSmallDisk as exc:
        return ledger.FaultRow(
            fault=trial.name,
            transport="memory",
            status="skip",
            description=description,
            reason=str(exc),
        )
    refused = offered.events - tally.accepted
    notes = (f"{refused:,} events refused: {offered.outcomes}",)
    return _row(trial, description, tally, code, final, notes=notes)


#: The memory transport's cases, in the order they run.
MEMORY: dict[str, Case] = {
    "kill-9": kill9,
    "sigterm-backlog": sigterm_backlog,
    "subscriber-down": subscriber_down,
    "hanging-subscriber": hanging,
    "full-disk": full_disk,
}
