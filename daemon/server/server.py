"""The production daemon: a router behind the HTTP ingress, with its lifecycle.

``DaemonServer.start()`` builds the subscribers, starts the router, replays the
journal, listens, and starts the background samplers; ``shutdown()`` turns
readiness off, refuses intake (503), drains the router, spills what remains to
the dead-letter journal and answers a :class:`FinalReport`. ``reload()`` swaps a
new config in atomically: everything is validated and built before anything
changes. ``serve()`` wires SIGTERM/SIGINT (a second one exits at once) and SIGHUP.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import time
import types
from typing import Any, cast

import msgspec
from aiohttp import web

from daemon.journal.event_journal import DeadLetterJournal, EventJournal, replay
from daemon.router.central import Unsubscribing
from daemon.server.admission import Admission
from daemon.server.config import (
    HandlerConfig,
    HealthConfig,
    Loaded,
    WebhookConfig,
    diff_subscribers,
    load_config,
    restart_required,
)
from daemon.server.duplicates import DuplicateWindow
from daemon.server.http.access_log import AccessLog
from daemon.server.http.app import build_app
from daemon.server.http.connections import ConnectionGuard, GuardedSite, runner_options
from daemon.server.http.guard import Access
from daemon.server.http.ingress import Ingress
from daemon.server.http.loop_lag import LagWatchdog
from daemon.server.logs import configure, get_logger
from daemon.server.metrics import N_BUCKETS, SUB_BUCKETS, LatencyHistogram, ServerMetrics, prefix_of
from daemon.server.recorder import Recorder
from daemon.server.refusals import RefusalWindow, ingress_counts
from daemon.server.subscribers.inprocess import build_handler
from daemon.server.subscribers.streams import StreamRegistry, hub_pending
from daemon.server.subscribers.webhook import WebhookHandler, WebhookPool
from daemon.server.transport import build_router, exit_losses, exit_terms, load, stored_hook
from events.delivery import DeadLetterStore, Handler
from events.errors import ConfigError
from events.model import Event
from events.router import Router
from events.subscription import Subscription

log = get_logger("daemon.server")

#: Wall-clock stamps below this (2001-09-09) are offsets, not times: not measured.
_WALL_CLOCK_FLOOR_NS = 10**18
#: A stopped daemon forced out by a second signal exits with this code.
EXIT_FORCED = 1
#: The routes whose answers count for the readiness probe's refusal window.
INGRESS_ROUTES = frozenset({"events", "events:batch"})


class FinalReport(msgspec.Struct, frozen=True):
    """What a shutdown did; the CLI prints it as one JSON line."""

    drain_completed: bool
    drain_s: float
    published: int
    accepted: int
    rejected: dict[str, int]
    deliveries: int
    delivered: int
    dead_lettered: dict[str, int]
    dropped: dict[str, int]
    unrouted: int
    spilled: dict[str, int]
    spilled_total: int
    spill_lost: int
    dead_letter_journal: str
    identity_errors: list[str]
    #: Workers whose handler ignored every cancellation: drain gave up on them, and
    #: what they hold is still pending (the CLI then exits without waiting for them).
    abandoned_workers: int = 0
    #: Accepted deliveries that ended nowhere: not delivered, not in the dead-letter
    #: file, not left in the event journal for a replay. Non-zero: the CLI exits 3.
    lost: int = 0
    #: ``lost`` by cause: ``dead_letter_write_failed``, ``pending_at_exit`` (in memory),
    #: ``unpublished`` (shared JetStream: accepted, never confirmed stored).
    lost_reasons: dict[str, int] = {}
    #: Failed writes of the dead-letter file over the run (each retried).
    dead_letter_write_errors: int = 0
    #: Shared JetStream consumers: this process's terms of the cluster-wide identity
    #: (``daemon.server.transport.exit_terms``); information, not part of ``lost``.
    transport: dict[str, int | None] = {}


class ReloadReport(msgspec.Struct, frozen=True):
    """What a SIGHUP reload changed (subscription keys), and what needs a restart.

    ``unsupported`` lists removed and changed subscriptions left running, which
    only happens with a router that cannot unsubscribe (not ``CentralRouter``).
    """

    ok: bool
    error: str = ""
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    unsupported: list[str] = []
    restart_required: list[str] = []


class DaemonServer:
    """One daemon process: router, ingress, subscribers, samplers and lifecycle."""

    def __init__(
        self,
        loaded: Loaded,
        *,
        router: Router | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.loaded = loaded
        config = loaded.config
        if router is None:
            router = build_router(config)
        self.router = router
        self.host = host if host is not None else config.server.host
        self.port = port if port is not None else config.server.port
        self.metrics = ServerMetrics()
        self.admission = Admission(config.admission)
        self.access = Access(config.auth, config.server, self.host)
        self.health = LagWatchdog(config.health)
        self.refusals = self._refusal_window(config.health)
        self.webhooks = WebhookPool(config.webhook_client)
        self.streams = StreamRegistry(router, config.streams, self.metrics)
        store = getattr(router, "dead_letters", None)
        self.dead_letter_store = store if isinstance(store, DeadLetterStore) else None
        self.dead_letter_journal = DeadLetterJournal(
            config.lifecycle.dead_letter_journal, self.dead_letter_store
        )
        self.journal = (
            EventJournal(
                config.journal.path,
                config.journal.fsync_interval_s,
                segment_bytes=config.journal.segment_bytes,
                router=router,
                dead_letters=self.dead_letter_journal,
            )
            if config.journal.enabled
            else None
        )
        self.duplicates = DuplicateWindow(
            config.server.duplicate_window_s,
            max_ids=config.server.duplicate_max_ids,
            max_bytes=config.server.duplicate_max_bytes,
        )
        self.recorder = Recorder(config.record, self.metrics)
        self.ingress = Ingress(
            router,
            self.admission,
            self.metrics,
            max_batch=config.server.max_batch,
            access=self.access,
            journal=self.journal,
            duplicates=self.duplicates,
            recorder=self.recorder,
            stored=stored_hook(router),
            max_body=config.server.client_max_size,
        )
        self.active: dict[str, tuple[Subscription, HandlerConfig | WebhookConfig]] = {}
        self.ready = False
        self.stopping = False
        self.started_at = time.monotonic()
        self.rates: dict[str, float] = {}
        self.replayed = 0
        self.reloads = {"ok": 0, "refused": 0}
        self._hist_by_subject: dict[str, LatencyHistogram] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._reloads: set[asyncio.Task[ReloadReport]] = set()
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self._stop = asyncio.Event()
        self.final: FinalReport | None = None

    @staticmethod
    def _refusal_window(health: HealthConfig) -> RefusalWindow:
        return RefusalWindow(
            health.refusal_window_s, health.refusal_ratio, health.refusal_min_requests
        )

    def not_ready_reasons(self) -> list[str]:
        """Why ``/readyz`` answers 503 now (empty: ready). Each reason is one sentence."""
        reasons = []
        if not self.ready:
            reasons.append("draining" if self.stopping else "starting")
        admission = self.admission
        if admission.overloaded:
            reasons.append(f"above high water: {admission.pending} pending of {admission.capacity}")
        refusing = self.refusals.refusing_nowait()
        if refusing:
            reasons.append(refusing)
        if self.journal is not None and self.journal.failing:
            reasons.append(f"journal failing: {self.journal.last_error}")
        dead = self.dead_letter_journal
        if dead.failing:
            reasons.append(
                f"dead-letter file failing ({dead.buffered} held in memory): {dead.last_error}"
            )
        return reasons

    def refresh_metrics_nowait(self) -> None:
        """Copy the counters other components keep into the metrics (before a scrape)."""
        m = self.metrics
        dead = self.dead_letter_journal
        m.dead_letters_spilled = dead.spilled
        m.dead_letter_write_errors = dead.errors
        m.journal_errors = self.journal.errors if self.journal is not None else 0
        m.duplicates = self.duplicates.duplicates
        m.duplicate_window_shortened = self.duplicates.shortened
        m.reloads = dict(self.reloads)

    # -- subscribers ---------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """The configured subscriptions' mailboxes: the high-water denominator (no hubs)."""
        return sum(sub.mailbox for sub, _ in self.active.values())

    def measured(self, handler: Handler) -> Handler:
        """Wrap ``handler`` to record intended-to-completion latency by subject prefix."""
        call = handler
        method = type(handler).__call__
        if inspect.isfunction(method):
            # An object whose class defines __call__ (the sink, a webhook): called through
            # its bound __call__, taken once. Calling the object goes through Python's
            # generic call slot, which packs the arguments into a tuple on every delivery.
            call = cast("Handler", types.MethodType(method, handler))
        by_subject = self._hist_by_subject
        by_prefix = self.metrics.delivery_latency
        now_ns = time.time_ns

        async def measured(event: Event) -> None:
            await call(event)
            t = event.t_intended_ns
            if t > _WALL_CLOCK_FLOOR_NS:
                hist = by_subject.get(event.subject)
                if hist is None:
                    hist = by_prefix[prefix_of(event.subject)]
                    if len(by_subject) < 65_536:
                        by_subject[event.subject] = hist
                # LatencyHistogram.record_ns inlined: a method call is a measurable
                # share of a no-op delivery.
                us = (now_ns() - t) // 1000
                if us < SUB_BUCKETS:
                    if us < 0:
                        us = 0  # the client's clock is ahead of ours
                    index = us
                else:
                    e = us.bit_length() - 1
                    index = SUB_BUCKETS * (e - 1) + ((us >> (e - 2)) & (SUB_BUCKETS - 1))
                    if index >= N_BUCKETS:
                        index = N_BUCKETS - 1
                hist.counts[index] += 1
                hist.sum_us += us

        return measured

    def _build(self, loaded: Loaded) -> list[tuple[Subscription, Handler, Any]]:
        built: list[tuple[Subscription, Handler, Any]] = []
        for index, (sub, h) in enumerate(loaded.handler_subs):
            handler = build_handler(h, f"{loaded.path} handlers[{index}] ({h.service})")
            built.append((sub, self.measured(handler), h))
        for sub, w in loaded.webhook_subs:
            built.append((sub, self.measured(WebhookHandler(w, self.webhooks, self.metrics)), w))
        return built

    # -- start ---------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Subscribe, start the router, replay the journal, listen; answer (host, port).

        Raise ForeignJournalFiles (a ConfigError) before anything starts when the
        journal's path holds files the journal did not write.
        """
        if self.journal is not None:
            self.journal.check_files()
        for sub, handler, source in self._build(self.loaded):
            self.router.subscribe(sub, handler)
            self.active[sub.key] = (sub, source)
        await self.router.start()
        self.dead_letter_journal.start()
        self._spawn(self.health.run(), "lag-watchdog")
        self._spawn(self._sample(), "sampler")
        if self.journal is not None:
            self.journal.start()
            await self._replay(self.journal)
        if self.loaded.config.record.enabled:
            await self.recorder.start()
        app = self.app = build_app(self)
        server_config = self.loaded.config.server
        self._runner = web.AppRunner(
            app,
            access_log=log if server_config.access_log else None,
            access_log_class=AccessLog,
            **runner_options(server_config),
        )
        await self._runner.setup()
        guard = ConnectionGuard(
            server_config, self.metrics, reserve=self.loaded.config.webhook_client.pool_size
        )
        await GuardedSite(self._runner, self.host, self.port, guard).start()
        self._spawn(guard.run(), "connection-guard")
        host, port = self._runner.addresses[0][:2]
        self.ready = True
        log.info("listening", host=host, port=port, subscriptions=len(self.active))
        return host, port

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _replay(self, journal: EventJournal) -> None:
        retry_s = self.loaded.config.lifecycle.drain_timeout_s
        window = self.duplicates
        result = await replay(journal, self.router, retry_s, window.window_s, window.add_nowait)
        if result.refused:
            log.error("replay refused events; journal kept", refused=result.refused)
        self.replayed = result.published
        self.metrics.journal_replayed = result.published
        if result.events or result.duplicates or result.torn:
            log.info("journal replayed", **msgspec.structs.asdict(result))

    async def _sample(self) -> None:
        """Feed admission the router's pending count; keep rates; checkpoint the journal."""
        cfg = self.loaded.config
        last_rate_t = last_ckpt_t = time.monotonic()
        last = self.router.stats()
        # The base of the first span: requests answered before the first tick count too.
        self.refusals.observe_nowait(
            last_rate_t, *ingress_counts(self.metrics.http, INGRESS_ROUTES)
        )
        while True:
            await asyncio.sleep(self.admission.config.sample_interval_s)
            stats = self.router.stats()
            pending, capacity = load(self.router, stats.pending - hub_pending(stats), self.capacity)
            self.admission.observe_nowait(pending, capacity)
            self.metrics.loop_lag_s = self.health.lag_s
            now = time.monotonic()
            self.refusals.observe_nowait(now, *ingress_counts(self.metrics.http, INGRESS_ROUTES))
            if now - last_rate_t >= 1.0:
                dt = now - last_rate_t
                self.rates = {
                    "published_per_s": (stats.published - last.published) / dt,
                    "accepted_per_s": (stats.accepted - last.accepted) / dt,
                    "delivered_per_s": (stats.delivered - last.delivered) / dt,
                }
                last, last_rate_t = stats, now
            journal = self.journal
            if (
                journal is not None
                and stats.pending == 0
                and now - last_ckpt_t >= cfg.journal.checkpoint_interval_s
            ):
                last_ckpt_t = now
                cut = journal.appended
                # Only when every journaled event is delivered or its dead letter is on
                # disk: one whose dead letter could not be written must stay replayable.
                with contextlib.suppress(OSError):  # logged and counted by the writer
                    await self.dead_letter_journal.spill()
                    journal.request_checkpoint_nowait(cut)

    # -- reload --------------------------------------------------------------------

    async def reload(self) -> ReloadReport:
        """Re-read the config file; apply it whole, or not at all.

        Removed subscriptions are unsubscribed, changed ones are unsubscribed and
        subscribed anew (a new mailbox), unchanged ones keep theirs. The swap
        happens without an await, so no event sees half of it; the report is
        answered once the leaving subscriptions have drained (up to
        ``lifecycle.drain_timeout_s``; what remains is dead-lettered).
        """
        try:
            loaded = await asyncio.to_thread(load_config, self.loaded.path)
            change = diff_subscribers(self.active, loaded)
            built = self._build(change.fresh)
        except ConfigError as exc:
            log.error("reload refused: config invalid; old config kept", error=str(exc))
            self.reloads["refused"] += 1
            return ReloadReport(ok=False, error=str(exc))
        except Exception as exc:  # unreadable file (a directory, no permission), a factory's bug
            error = f"{self.loaded.path}: {type(exc).__name__}: {exc}"
            log.error("reload refused: cannot read the config; old config kept", error=error)
            self.reloads["refused"] += 1
            return ReloadReport(ok=False, error=error)
        if self.stopping:
            # Drain owns every subscription now; a swap would race it.
            self.reloads["refused"] += 1
            return ReloadReport(ok=False, error="the daemon is shutting down")
        old, new = self.loaded.config, loaded.config
        router = self.router
        # Everything is built: from here the swap cannot fail half-way.
        leaving: list[asyncio.Task[Any]] = []
        if isinstance(router, Unsubscribing):
            removed, changed, unsupported = change.removed, change.changed, []
            timeout_s = new.lifecycle.drain_timeout_s
            for key in removed + changed:
                sub, _ = self.active.pop(key)
                leaving.append(
                    router.unsubscribe_nowait(sub.service, sub.pattern, timeout_s=timeout_s)
                )
        else:
            removed, changed = [], []
            unsupported = [f"{key}: removed; still running" for key in change.removed] + [
                f"{key}: changed; old kept" for key in change.changed
            ]
            built = [b for b in built if b[0].key not in change.changed]
        for sub, handler, source in built:
            router.subscribe(sub, handler)
            self.active[sub.key] = (sub, source)
        self.admission.reconfigure_nowait(new.admission)
        self.access.auth.reconfigure_nowait(new.auth)  # not when it would turn auth on or off
        self.health.config = new.health
        if new.health != old.health:
            self.refusals = self._refusal_window(new.health)
        configure(new.logging.level, new.logging.format)
        self.loaded = msgspec.structs.replace(self.loaded, config=new)
        ended = await asyncio.gather(*leaving, return_exceptions=True)
        # The new config is in force either way; a crashed worker is reported, not hidden.
        failures = [repr(e) for e in ended if isinstance(e, BaseException)]
        report = ReloadReport(
            ok=True,
            error="; ".join(failures),
            added=change.added,
            removed=removed,
            changed=changed,
            unsupported=unsupported,
            restart_required=restart_required(old, new),
        )
        self.reloads["ok"] += 1
        log.info("config reloaded", **msgspec.structs.asdict(report))
        return report

    # -- shutdown ------------------------------------------------------------------

    async def shutdown(self) -> FinalReport:
        """Readiness off, intake 503, drain, spill, close; answer the final counts."""
        self.stopping = True
        self.ready = False
        self.admission.draining = True
        timeout = self.loaded.config.lifecycle.drain_timeout_s
        log.info("draining", timeout_s=timeout)
        report = await self.router.drain(timeout)
        self._log_dead_letter_samples()
        dead = self.dead_letter_journal
        unwritten = await dead.close()
        pending = report.stats.pending
        if self.journal is not None:
            cut = self.journal.appended
            if unwritten == 0 and pending == 0:
                # Every journaled event is now delivered or in the dead-letter journal.
                self.journal.request_checkpoint_nowait(cut)
            await self.journal.close()
            # Otherwise the journal keeps them all: the next start replays them.
            lost_reasons = {}
        else:
            lost_reasons = {"dead_letter_write_failed": unwritten}
            lost_reasons.update(exit_losses(self.router, report.stats))
            lost_reasons = {k: n for k, n in lost_reasons.items() if n}
        # Intake is refused since draining began: the recording is complete.
        await self.recorder.stop()
        self.streams.close_all_nowait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.webhooks.close()
        if self._runner is not None:
            await self._runner.cleanup()
        stats = report.stats
        self.final = FinalReport(
            drain_completed=report.completed,
            drain_s=report.duration_s,
            published=stats.published,
            accepted=stats.accepted,
            rejected=stats.rejected,
            deliveries=stats.deliveries,
            delivered=stats.delivered,
            dead_lettered=stats.dead_lettered,
            dropped=stats.dropped,
            unrouted=stats.unrouted,
            spilled=dict(dead.by_reason),
            spilled_total=dead.spilled,
            spill_lost=unwritten,
            dead_letter_journal=str(dead.path),
            identity_errors=stats.identity_errors(),
            abandoned_workers=report.abandoned_workers,
            lost=sum(lost_reasons.values()),
            lost_reasons=lost_reasons,
            dead_letter_write_errors=dead.errors,
            transport=exit_terms(self.router, stats),
        )
        self.metrics.dead_letters_spilled = dead.spilled
        fields = msgspec.structs.asdict(self.final)
        if self.final.lost:
            why = ", ".join(f"{n} {cause}" for cause, n in lost_reasons.items())
            log.error(f"stopped: {self.final.lost} accepted deliveries lost ({why})", **fields)
        else:
            log.info("stopped", **fields)
        return self.final

    def _log_dead_letter_samples(self, limit: int = 5) -> None:
        """A few of the newest dead letters, with the keys an operator greps for."""
        store = self.dead_letter_store
        if store is None:
            return
        for dl in list(store.entries)[-limit:]:
            log.warning(
                "dead letter",
                event_id=dl.event.id,
                subject=dl.event.subject,
                service=dl.service,
                attempt=dl.attempts,
                reason=dl.reason,
                error=dl.error,
            )

    # -- process wiring ------------------------------------------------------------

    def request_stop_nowait(self) -> None:
        if self._stop.is_set():
            log.warning("second signal: exiting at once")
            os._exit(EXIT_FORCED)
        self._stop.set()

    def _on_hup(self) -> None:
        task = asyncio.create_task(self.reload(), name="reload")
        self._reloads.add(task)  # a strong reference until it ends
        task.add_done_callback(self._reloads.discard)

    async def serve(self, on_listening: Any = None) -> FinalReport:
        """Start, run until SIGTERM/SIGINT, shut down. ``on_listening(host, port)`` is called."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_log_loop_exception)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop_nowait)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        host, port = await self.start()
        if on_listening is not None:
            on_listening(host, port)
        await self._stop.wait()
        return await self.shutdown()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An exception nobody retrieved: one log line in the log's format, never a raw traceback."""
    exc = context.get("exception")
    log.error(
        "unhandled exception in the event loop",
        message=context.get("message", ""),
        error=f"{type(exc).__name__}: {exc}" if exc is not None else "",
        exc_info=exc,
    )
