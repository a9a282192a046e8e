"""The external load driver: a seeded open-loop schedule offered to a running daemon over HTTP.

The schedule (a pattern's, or a trace's replay: :mod:`bench.run.source`) fixes
every event's intended time before the run. Events whose time has come are sent at
once, in requests of up to ``batch`` events, over a pooled aiohttp session;
completions never pace the sends (open loop). Each event's ``t_intended_ns`` is its
intended WALL-CLOCK time, so the daemon's delivery-latency histograms
(``/v1/status``) count from it.

Measured per event: dispatch lag (sent - intended: the driver's own validity
gate), acceptance latency (202 received - intended), the HTTP outcome. From the
daemon's ``/v1/status`` before and after (once nothing is pending): deliveries,
delivered, dead letters, and the delivery-latency histogram difference. With
several daemons (``also``: processes sharing a JetStream stream) requests go to
each in turn and their statuses are summed (:func:`merge_statuses`): one daemon's
pending is not its own to settle there, the sum is.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import msgspec
import numpy as np

from bench import quantiles
from bench.run import source
from bench.run.waker import open_waker
from bench.schema import TraceReplay
from events.errors import SwitchyardError
from events.model import Event
from workload import load_scenarios

JSON = "application/json"
MSGPACK = "application/msgpack"
_NOT_SENT = -2
_CONN_ERROR = -1


class LoadError(SwitchyardError):
    """Raised when the daemon cannot be reached or is not ready before the run."""


class LoadConfig(msgspec.Struct, frozen=True):
    """What to offer, to whom, and how."""

    url: str
    pattern: str = "spike"
    profile: str = "light"
    seed: int = 1
    duration_s: float | None = None
    base_rate: float | None = None
    batch: int = 1
    linger_ms: float = 2.0
    connections: int = 64
    codec: str = "msgpack"
    source: str = "bench-load"
    settle_s: float = 30.0
    max_dispatch_lag_ms: float = 10.0
    #: The scenarios file (absolute; None: configs/scenarios.toml).
    scenarios: str | None = None
    #: A trace replayed in place of ``pattern`` (see :mod:`bench.run.source`).
    trace: TraceReplay | None = None
    #: Further daemons sharing the work with ``url`` (one JetStream stream): requests
    #: go to each in turn, and the figures are their statuses summed.
    also: tuple[str, ...] = ()


class Percentiles(msgspec.Struct, frozen=True):
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


class PhaseResult(msgspec.Struct, frozen=True):
    name: str
    events: int
    accepted: int
    acceptance: Percentiles


class LoadResult(msgspec.Struct, frozen=True):
    """One run's figures; ``valid`` says whether the driver kept its schedule."""

    config: LoadConfig
    schedule_hash: str
    events: int
    requests: int
    sent_window_s: float
    accepted: int
    accepted_per_s: float
    outcomes: dict[str, int]
    acceptance: Percentiles
    dispatch_lag: Percentiles
    delivered: int
    deliveries: int
    delivered_per_s: float
    daemon_cpu_s: float
    daemon_cpu_us_per_event: float
    settle_s: float
    pending_after: int
    dead_lettered: dict[str, int]
    delivery_latency: dict[str, float]
    identity_errors: list[str]
    phases: list[PhaseResult]
    valid: bool
    invalid_reasons: list[str]


def percentiles(ns: np.ndarray) -> Percentiles:
    if ns.size == 0:
        return Percentiles(0, 0.0, 0.0, 0.0, 0.0)
    p50, p90, p99 = quantiles.percentiles(ns, (50, 90, 99)) / 1e6
    return Percentiles(int(ns.size), float(p50), float(p90), float(p99), float(ns.max()) / 1e6)


def histogram_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """Percentiles of the daemon's delivery-latency histograms, counted between two statuses."""
    counts: dict[int, int] = {}
    for prefix, summary in after.get("delivery_latency", {}).items():
        for upper, n in summary["buckets_us"]:
            counts[upper] = counts.get(upper, 0) + n
        for upper, n in before.get("delivery_latency", {}).get(prefix, {}).get("buckets_us", []):
            counts[upper] = counts.get(upper, 0) - n
    total = sum(counts.values())
    out: dict[str, float] = {"count": float(total)}
    if not total:
        return out
    bounds = sorted(counts)
    for name, q in (("p50_ms", 0.5), ("p90_ms", 0.9), ("p99_ms", 0.99), ("p999_ms", 0.999)):
        seen = 0
        for upper in bounds:
            seen += counts[upper]
            if seen >= q * total:
                out[name] = upper / 1000.0  # bucket upper bound: within 25% above
                break
    return out


class WireEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """An event as the driver sends it: every field the daemon needs, defaults left out
    (a smaller body is less to send and to parse, as any client would do)."""

    id: str
    subject: str
    category: str
    source: str
    payload: bytes
    seq: int
    t_intended_ns: int
    priority: int = 1


class _Run:
    """The state of one open-loop run; per-event records are plain lists (cheap to set)."""

    def __init__(self, cfg: LoadConfig, events: list[Event], offsets: list[int]) -> None:
        self.cfg = cfg
        self.events = events
        self.offsets = offsets
        # One record per request (first, end, sent, answered, status); per-event
        # arrays are built from them after the run, off the hot path.
        self.log: list[tuple[int, int, int, int, int]] = []
        self.refused_items: list[int] = []
        self.item_rejects: dict[str, int] = {}
        self.requests = 0
        self.ctype = MSGPACK if cfg.codec == "msgpack" else JSON
        encoder = msgspec.msgpack.Encoder() if cfg.codec == "msgpack" else msgspec.json.Encoder()
        self.encode = encoder.encode
        self.t0_perf = 0
        self.t0_wall = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.wire: list[WireEvent] = []
        #: Intake URLs taken in turn when the load goes to several daemons.
        self.urls: list[str] = []

    def stamp(self, t0_wall: int) -> None:
        """Give every event a run-unique id and its intended wall-clock time, before the run."""
        tag = os.urandom(3).hex()
        self.t0_wall = t0_wall
        self.wire = [
            WireEvent(
                f"{tag}-{k}",
                e.subject,
                e.category.value,
                e.source,
                e.payload,
                e.seq,
                t0_wall + off,
                e.priority,
            )
            for k, (e, off) in enumerate(zip(self.events, self.offsets, strict=True))
        ]

    async def send(self, session: aiohttp.ClientSession, url: str, a: int, b: int) -> None:
        t_send = time.perf_counter_ns()
        if self.urls:
            url = self.urls[self.requests % len(self.urls)]
        body = self.encode(self.wire[a:b] if self.cfg.batch > 1 else self.wire[a])
        self.requests += 1
        try:
            async with session.post(url, data=body, headers={"Content-Type": self.ctype}) as resp:
                status = resp.status
                answer = await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError):
            status, answer = _CONN_ERROR, b""
        self.log.append((a, b, t_send, time.perf_counter_ns(), status))
        if status == 202 and self.cfg.batch > 1 and b"rejected" in answer:
            for item in msgspec.json.decode(answer).get("rejected", []):
                self.refused_items.append(a + int(item["index"]))
                reason = f"item:{item['reason']}"
                self.item_rejects[reason] = self.item_rejects.get(reason, 0) + 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per event: dispatch lag, acceptance latency (ns) and HTTP status (0: item refused)."""
        n = len(self.offsets)
        offs = np.asarray(self.offsets, dtype=np.int64) + self.t0_perf
        lag = np.zeros(n, dtype=np.int64)
        accept = np.zeros(n, dtype=np.int64)
        status = np.full(n, _NOT_SENT, dtype=np.int32)
        for a, b, t_send, t_done, code in self.log:
            lag[a:b] = t_send - offs[a:b]
            accept[a:b] = t_done - offs[a:b]
            status[a:b] = code
        if self.refused_items:
            status[np.asarray(self.refused_items, dtype=np.int64)] = 0
        return lag, accept, status

    def _spawn(self, session: aiohttp.ClientSession, url: str, a: int, b: int) -> None:
        task = asyncio.create_task(self.send(session, url, a, b))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drive(self, session: aiohttp.ClientSession, url: str) -> None:
        """Send due events in requests of ``batch``; a partial batch waits at most ``linger``."""
        waker = open_waker()
        if waker is not None:
            waker.attach(asyncio.get_running_loop())
        offs, n, batch = self.offsets, len(self.offsets), self.cfg.batch
        linger = int(self.cfg.linger_ms * 1e6) if batch > 1 else 0
        i = 0
        try:
            while i < n:
                now = time.perf_counter_ns() - self.t0_perf
                j = i
                while j < n and offs[j] <= now:
                    j += 1
                sent = False
                while j - i >= batch:
                    self._spawn(session, url, i, i + batch)
                    i += batch
                    sent = True
                if i < j and (j == n or now - offs[i] >= linger):
                    self._spawn(session, url, i, j)  # a partial batch whose linger is over
                    i, sent = j, True
                if i >= n:
                    break
                if sent:
                    await asyncio.sleep(0)  # let the sends start, then look again
                    continue
                # Nothing to send yet: wake when the batch would fill or the linger ends.
                wake = offs[i] + linger if i < j else offs[i]
                fill = i + batch - 1
                if fill < n:
                    wake = min(wake, offs[fill])
                if waker is not None:
                    await waker.wait_until(self.t0_perf + wake)
                else:
                    await asyncio.sleep(max(0.0, (wake - now) / 1e9 - 0.001))
            while self.tasks:
                await asyncio.gather(*list(self.tasks))
        finally:
            if waker is not None:
                waker.close()


def merge_statuses(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """One status of several daemons: router counters, CPU and histograms summed.

    Histograms are kept apart under ``<index>:<prefix>`` keys, which
    :func:`histogram_delta` sums like any other prefix.
    """
    if len(statuses) == 1:
        return statuses[0]
    router: dict[str, Any] = {"deliveries": 0, "delivered": 0, "pending": 0, "dead_lettered": {}}
    latency: dict[str, Any] = {}
    errors: list[str] = []
    cpu_s = 0.0
    for index, status in enumerate(statuses):
        one = status["router"]
        for key in ("deliveries", "delivered", "pending"):
            router[key] += one[key]
        for reason, n in one["dead_lettered"].items():
            router["dead_lettered"][reason] = router["dead_lettered"].get(reason, 0) + n
        for prefix, summary in status.get("delivery_latency", {}).items():
            latency[f"{index}:{prefix}"] = summary
        errors += status.get("identity_errors", [])
        cpu_s += status["process"]["cpu_s"]
    return {
        "router": router,
        "delivery_latency": latency,
        "identity_errors": errors,
        "process": {"cpu_s": cpu_s},
    }


async def _statuses(session: aiohttp.ClientSession, bases: list[str]) -> dict[str, Any]:
    return merge_statuses([await _status(session, base) for base in bases])


async def _status(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with session.get(f"{base}/v1/status") as resp:
        if resp.status in (401, 403):
            raise LoadError(
                f"{base}/v1/status answered {resp.status}: give --token (or SWITCHYARD_TOKEN)"
                " a token with monitor = true and publish permission for the run's subjects"
            )
        if resp.status != 200:
            raise LoadError(f"{base}/v1/status answered {resp.status}")
        body: dict[str, Any] = await resp.json()
        return body


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    out = {k: v - before.get(k, 0) for k, v in after.items()}
    return {k: v for k, v in out.items() if v}


def _prepare(cfg: LoadConfig) -> tuple[Any, _Run, str]:
    """The run's schedule, its per-run state and the URL the events go to."""
    schedule = source.build(
        seed=cfg.seed, profile=cfg.profile, pattern=cfg.pattern, duration_s=cfg.duration_s,
        base_rate=cfg.base_rate, scenarios=load_scenarios(cfg.scenarios), replay=cfg.trace,
    )  # fmt: skip
    events = schedule.events(source=cfg.source)
    offsets: list[int] = schedule.t_ns.tolist()
    run = _Run(cfg, events, offsets)
    bases = [u.rstrip("/") for u in (cfg.url, *cfg.also)]
    route = "/v1/events:batch" if cfg.batch > 1 else "/v1/events"
    if len(bases) > 1:
        run.urls = [f"{b}{route}" for b in bases]
    return schedule, run, f"{bases[0]}{route}"


def _begin(run: _Run) -> None:
    """Fix the run's start: stamping takes ~1 us per event; start once it is surely done."""
    lead_ns = 200_000_000 + 3_000 * len(run.events)
    run.t0_perf = time.perf_counter_ns() + lead_ns
    run.stamp(time.time_ns() + lead_ns)


def bearer(token: str | None) -> dict[str, str] | None:
    """The ``Authorization`` header carrying ``token``; None without a token."""
    return {"Authorization": f"Bearer {token}"} if token else None


async def run_load(cfg: LoadConfig, token: str | None = None) -> LoadResult:
    """Offer the schedule to the daemon at ``cfg.url`` (and ``cfg.also``); answer the figures.

    ``token`` is sent as ``Authorization: Bearer`` on every request (a daemon with
    ``[auth] enabled``). It is kept out of ``cfg``, which results write to JSON.
    """
    schedule, run, url = _prepare(cfg)
    bases = [u.rstrip("/") for u in (cfg.url, *cfg.also)]
    connector = aiohttp.TCPConnector(limit=cfg.connections)
    headers = bearer(token)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        try:
            for base in bases:
                async with session.get(f"{base}/readyz") as resp:
                    if resp.status != 200:
                        raise LoadError(f"{base} is not ready: /readyz answered {resp.status}")
            before = await _statuses(session, bases)
        except aiohttp.ClientError as exc:
            raise LoadError(f"cannot reach the daemon at {base}: {exc}") from None
        _begin(run)
        await run.drive(session, url)
        t_sent = time.perf_counter_ns()
        deadline = time.monotonic() + cfg.settle_s
        after = await _statuses(session, bases)
        while after["router"]["pending"] > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            after = await _statuses(session, bases)
        t_settled = time.perf_counter_ns()
    return _result(cfg, schedule, run, before, after, t_sent, t_settled)


class Offered(msgspec.Struct, frozen=True):
    """What :func:`offer` sent and which events the daemon answered 202 for."""

    schedule_hash: str
    events: int
    accepted_ids: list[str]
    #: Events by HTTP outcome: ``"202"``, ``"503"``, ``conn_error``, ``item:<reason>``, ...
    outcomes: dict[str, int]
    sent_window_s: float


async def offer(
    cfg: LoadConfig,
    at_s: float | None = None,
    action: Callable[[], None] | None = None,
    token: str | None = None,
) -> Offered:
    """Send the schedule to ``cfg.url`` whatever the daemon does meanwhile, and keep the ids it
    accepted; ``action`` runs once ``at_s`` seconds into the schedule (a fault injected
    mid-load); ``token`` goes as ``Authorization: Bearer`` on every request. No readiness
    check and no settling: the caller owns the daemon's life."""
    schedule, run, url = _prepare(cfg)
    connector = aiohttp.TCPConnector(limit=cfg.connections)
    headers = bearer(token)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        _begin(run)
        timer = None
        if action is not None and at_s is not None:
            delay_s = (run.t0_perf - time.perf_counter_ns()) / 1e9 + at_s
            timer = asyncio.get_running_loop().call_later(max(0.0, delay_s), action)
        try:
            await run.drive(session, url)
        finally:
            if timer is not None:
                timer.cancel()
        t_sent = time.perf_counter_ns()
    _, _, status = run.arrays()
    accepted = np.flatnonzero(status == 202).tolist()
    codes, counts = np.unique(status, return_counts=True)
    outcomes = {
        _outcome_name(code): count
        for code, count in zip(codes.tolist(), counts.tolist(), strict=True)
        if code != 0
    }
    outcomes.update(run.item_rejects)
    return Offered(
        schedule_hash=schedule.hash,
        events=len(run.events),
        accepted_ids=[run.wire[i].id for i in accepted],
        outcomes=outcomes,
        sent_window_s=max(0.0, (t_sent - run.t0_perf) / 1e9),
    )


def _outcome_name(code: int) -> str:
    return "conn_error" if code == _CONN_ERROR else "not_sent" if code == _NOT_SENT else str(code)


def _result(
    cfg: LoadConfig,
    schedule: Any,
    run: _Run,
    before: dict[str, Any],
    after: dict[str, Any],
    t_sent: int,
    t_settled: int,
) -> LoadResult:
    lag_ns, accept, status = run.arrays()
    ok = status == 202
    outcomes: dict[str, int] = {}
    codes, counts = np.unique(status[status != 0], return_counts=True)
    for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
        outcomes[_outcome_name(code)] = count
    outcomes.update(run.item_rejects)
    window_s = max(1e-9, (t_sent - run.t0_perf) / 1e9)
    settle_window_s = max(1e-9, (t_settled - run.t0_perf) / 1e9)
    rb, ra = before["router"], after["router"]
    delivered = ra["delivered"] - rb["delivered"]
    lag = percentiles(lag_ns[status != _NOT_SENT])
    reasons = []
    if lag.p99_ms > cfg.max_dispatch_lag_ms:
        reasons.append(
            f"driver fell behind: dispatch lag p99 {lag.p99_ms:.1f} ms"
            f" > {cfg.max_dispatch_lag_ms} ms"
        )
    if ra["pending"]:
        reasons.append(f"{ra['pending']} deliveries still pending after {cfg.settle_s} s")
    if after.get("identity_errors"):
        reasons.append("the daemon's accounting identity does not hold")
    phases = []
    phase_idx = schedule.phase_idx
    for index, phase in enumerate(schedule.phases):
        mask = phase_idx == index
        phases.append(
            PhaseResult(
                name=phase.name,
                events=int(mask.sum()),
                accepted=int((mask & ok).sum()),
                acceptance=percentiles(accept[mask & ok]),
            )
        )
    accepted = int(ok.sum())
    cpu_s = after["process"]["cpu_s"] - before["process"]["cpu_s"]
    return LoadResult(
        config=cfg,
        schedule_hash=schedule.hash,
        events=len(status),
        requests=run.requests,
        sent_window_s=window_s,
        accepted=accepted,
        accepted_per_s=accepted / window_s,
        outcomes=outcomes,
        acceptance=percentiles(accept[ok]),
        dispatch_lag=lag,
        delivered=delivered,
        deliveries=ra["deliveries"] - rb["deliveries"],
        delivered_per_s=delivered / settle_window_s,
        daemon_cpu_s=cpu_s,
        daemon_cpu_us_per_event=cpu_s / accepted * 1e6 if accepted else 0.0,
        settle_s=(t_settled - t_sent) / 1e9,
        pending_after=ra["pending"],
        dead_lettered=_diff(ra["dead_lettered"], rb["dead_lettered"]),
        delivery_latency=histogram_delta(before, after),
        identity_errors=after.get("identity_errors", []),
        phases=phases,
        valid=not reasons,
        invalid_reasons=reasons,
    )
