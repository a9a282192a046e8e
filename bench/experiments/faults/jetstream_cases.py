"""The faults of the JetStream transport, one coroutine each, and their sizes.

Each case starts its own ``nats-server -js`` (its store in the case's
directory) and daemons with the user's config plus a ``[transport]`` table on
that server; the one subscriber is the witness webhook, a durable consumer
shared by every daemon. An accepted event is one answered 202, which on
JetStream means the stream stored it. It ends delivered (the witness has it)
or dead-lettered (the daemon's dead-letter file, or the dead-letter stream,
read here before the server stops); anything else is lost. The cases:

- ``kill-9-of-two``: two daemons, the load sent to each in turn; SIGKILL to one
  halfway (the rest of its share meets a dead port); with a short ``ack_wait_s``
  the survivor gets what the dead one held un-acked; settle, SIGTERM the survivor.
  The survivor must exit 0: on a shared consumer its own accepted - delivered is
  not a loss (the dead one's redeliveries end here), only what it can prove is.
- ``nats-restart``: one daemon; halfway through the load the nats-server is
  stopped, stays down a moment, and starts again on the same port and store;
  POSTs meanwhile wait for their PubAck (or are refused); settle, SIGTERM; exit 0
  expected (a redelivery whose ack the restart lost ends twice, not a loss).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import nats
from nats.js.errors import NotFoundError

from bench.experiments.faults import ledger
from bench.experiments.faults.trial import Trial

#: Seconds the server takes to redeliver what a killed daemon held (the issue's ``ack_wait``).
ACK_WAIT_S = 1.0


class JetStreamSizes(msgspec.Struct, frozen=True):
    """Events and rates of each case; ``drain_cap_s`` caps the config's drain timeout."""

    kill_events: int
    kill_rate: float
    restart_events: int
    restart_rate: float
    #: How long the nats-server stays stopped.
    down_s: float
    drain_cap_s: float | None
    settle_s: float


FULL = JetStreamSizes(
    kill_events=30_000,
    kill_rate=2_000.0,
    restart_events=30_000,
    restart_rate=2_000.0,
    down_s=2.0,
    drain_cap_s=None,
    settle_s=120.0,
)

#: ``--short``, for ``make test``: a few seconds per case.
SHORT = JetStreamSizes(
    kill_events=3_000,
    kill_rate=1_500.0,
    restart_events=3_000,
    restart_rate=1_500.0,
    down_s=0.5,
    drain_cap_s=2.0,
    settle_s=30.0,
)

JetStreamCase = Callable[[Trial, JetStreamSizes], Awaitable[ledger.FaultRow]]

#: The subscriber's policy: a few handlers per daemon, each POST bounded.
POLICY: dict[str, Any] = {"concurrency": 16, "timeout_s": 2.0}


def _transport(url: str) -> dict[str, Any]:
    # File storage: the stream must outlive a server restart.
    return {"kind": "jetstream", "url": url, "ack_wait_s": ACK_WAIT_S, "storage": "file"}


def _stop_timeout(trial: Trial) -> float:
    lifecycle: dict[str, Any] = trial.base.get("lifecycle", {})
    return float(lifecycle.get("drain_timeout_s", 10.0)) + 60.0


async def dead_letter_stream_ids(url: str, stream: str) -> frozenset[str]:
    """Event ids in the dead-letter stream (its ``Nats-Msg-Id`` is ``<event id>:<service>``)."""
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=5)
        try:
            state = (await js.stream_info(stream)).state
        except NotFoundError:
            return frozenset()
        ids: set[str] = set()
        if state.messages == 0:
            return frozenset()
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
            ids.add(msg_id.rsplit(":", 1)[0])
        return frozenset(ids)
    finally:
        await nc.close()


async def _finish(
    trial: Trial,
    url: str,
    description: str,
    code: int,
    final: dict[str, Any] | None,
    notes: tuple[str, ...],
) -> ledger.FaultRow:
    """Read the dead-letter stream while the server runs, stop everything, count, judge."""
    stream = str(trial.base.get("transport", {}).get("dead_letter_stream", "SWITCHYARD_DLQ"))
    try:
        dead = await dead_letter_stream_ids(url, stream)
    finally:
        await trial.close()
    tally = trial.count(None, dead)
    errors = trial.logged_errors()
    notes += (f"{len(dead)} ids in {stream}", f"the daemons logged {errors} error lines")
    terms = (final or {}).get("transport") or {}
    if terms:
        notes += (
            "the stopping daemon's terms: " + ", ".join(f"{k} {v}" for k, v in terms.items()),
        )
    row = ledger.judge(
        trial.name, "jetstream", description, tally, code, final,
        duration_s=trial.elapsed(), notes=notes,
    )  # fmt: skip
    if row.status == "pass" and code != 0:
        # A daemon on a shared consumer exits non-zero only for a loss it can prove.
        reason = f"exit {code} although nothing was lost"
        row = msgspec.structs.replace(row, status="FAIL", reason=reason)
    return row


async def _redelivered(trial: Trial, daemon_url: str) -> int | None:
    for child in trial.daemons:
        if child.url == daemon_url:
            status = await trial.status(child)
            return None if status is None else int(status["transport"]["redelivered"])
    return None


async def kill9_of_two(trial: Trial, sizes: JetStreamSizes) -> ledger.FaultRow:
    url = await trial.start_nats()
    hook = await trial.start_witness("slow", delay_ms=10.0)  # so each daemon holds un-acked work
    path = trial.write_config(hook, POLICY, None, sizes.drain_cap_s, _transport(url))
    victim = await trial.start_daemon(path)
    survivor = await trial.start_daemon(path)
    at_s = sizes.kill_events / sizes.kill_rate / 2

    def kill() -> None:
        trial.say(f"SIGKILL to pid {victim.pid} at {at_s:g} s")
        victim.signal(signal.SIGKILL)

    offered = await trial.load(victim, sizes.kill_events, sizes.kill_rate, at_s, kill, (survivor,))
    killed = await victim.wait(30.0)
    trial.say(f"killed daemon exited {killed}")
    missing = await trial.witnessed_all(sizes.settle_s)
    redelivered = await _redelivered(trial, survivor.url)
    code, final = await trial.terminate(survivor, _stop_timeout(trial))
    refused = offered.events - len(offered.accepted_ids)
    notes = (
        f"one daemon killed (exit {killed}); the survivor saw {redelivered} redeliveries",
        f"{refused:,} events not accepted: {offered.outcomes}",
        f"{missing:,} accepted ids unseen by the witness before the SIGTERM",
    )
    description = f"kill -9 of one of two daemons mid-load (ack_wait {ACK_WAIT_S:g} s)"
    return await _finish(trial, url, description, code, final, notes)


async def nats_restart(trial: Trial, sizes: JetStreamSizes) -> ledger.FaultRow:
    url = await trial.start_nats()
    hook = await trial.start_witness("ok")
    path = trial.write_config(hook, POLICY, None, sizes.drain_cap_s, _transport(url))
    daemon = await trial.start_daemon(path)
    at_s = sizes.restart_events / sizes.restart_rate / 2
    restarts: list[asyncio.Task[None]] = []  # a strong reference to the fault's task

    def restart() -> None:
        restarts.append(asyncio.create_task(trial.restart_nats(sizes.down_s)))

    offered = await trial.load(daemon, sizes.restart_events, sizes.restart_rate, at_s, restart)
    await asyncio.gather(*restarts)
    missing = await trial.witnessed_all(sizes.settle_s)
    status = await trial.status(daemon)
    transport = (status or {}).get("transport", {})
    code, final = await trial.terminate(daemon, _stop_timeout(trial))
    refused = offered.events - len(offered.accepted_ids)
    notes = (
        f"nats-server down {sizes.down_s:g} s; publish retries"
        f" {transport.get('publish_retries')}, redelivered {transport.get('redelivered')}",
        f"{refused:,} events not accepted: {offered.outcomes}",
        f"{missing:,} accepted ids unseen by the witness before the SIGTERM",
    )
    description = (
        f"nats-server stopped mid-load, restarted on its port and store after {sizes.down_s:g} s"
    )
    return await _finish(trial, url, description, code, final, notes)


#: The JetStream transport's cases, in the order they run.
JETSTREAM: dict[str, JetStreamCase] = {
    "kill-9-of-two": kill9_of_two,
    "nats-restart": nats_restart,
}
