"""One measured run, in this process: build, start, offer the schedule, drain, account.

Everything costly happens before the clock starts: the schedule and its events
are built, the router made, subscribed and started, garbage collected and the
survivors frozen (so neither architecture pays for the harness's objects in
its GC pauses). Then the monitors start, the generator runs open loop, the
router drains, and the raw arrays become a :class:`RunResult`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time

import numpy as np
import psutil  # type: ignore[import-untyped]

import workload
import workload.cpu
from bench.architectures import make
from bench.host import allocator
from bench.host.external import ExternalCpu
from bench.run import gates, measure, recovery, source, timeline
from bench.run.generator import GeneratorLog, run_open_loop
from bench.run.monitors import GcPauses, LoopLagMonitor, RssSampler, list_bytes, machine_steal_s
from bench.run.recorder import Recorder, check_outages, services_with_outages
from bench.run.sampler import RouterSampler
from bench.run.services import subscribers
from bench.run.waker import open_waker
from bench.schema import SCHEMA, Accounting, Resources, RunResult, RunSpec, error_rates
from events import RouterStats
from events.errors import ConfigError
from workload.services import Outage as WorkloadOutage

#: The clock starts this long after set-up, so the first batch is not already late.
LEAD_NS = 5_000_000


def run(spec: RunSpec, spawned_at: float | None = None) -> RunResult:
    """Measure one run on the loop ``spec.loop`` names; blocks until done."""
    allocator.pin_mmap_threshold()
    if spec.loop == "uvloop":
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    else:
        runner = asyncio.Runner()
    with runner:
        return runner.run(measure_run(spec, spawned_at))


def process_age_s() -> float:
    """Seconds since this process started.

    psutil's create_time() adds the boot time, which in this VM is off by
    seconds; /proc gives the age on one clock (10 ms resolution).
    """
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as fh:
            uptime_s = float(fh.read().split()[0])
        return uptime_s - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float(time.time() - psutil.Process().create_time())


def _accounting(
    stats: RouterStats,
    log_published: int,
    log_accepted: int,
    log_rejected: dict[str, int],
    completions: int,
    drain_completed: bool,
    drain_s: float,
) -> Accounting:
    return Accounting(
        published=stats.published,
        accepted=stats.accepted,
        rejected=dict(stats.rejected),
        unrouted=stats.unrouted,
        deliveries=stats.deliveries,
        delivered=stats.delivered,
        dead_lettered=dict(stats.dead_lettered),
        dropped=dict(stats.dropped),
        retries=stats.retries,
        pending=stats.pending,
        unaccounted=stats.deliveries - stats.ended,
        bench_published=log_published,
        bench_accepted=log_accepted,
        bench_rejected=dict(log_rejected),
        bench_completions=completions,
        identity_errors=tuple(stats.identity_errors()),
        drain_completed=drain_completed,
        drain_s=drain_s,
    )


async def measure_run(spec: RunSpec, spawned_at: float | None = None) -> RunResult:
    """The body of :func:`run`, on the running loop."""
    process_start = spawned_at if spawned_at is not None else time.time() - process_age_s()
    router = make(spec.arch)
    # Fix the simulated services' CPU speed now, not on the first handler call
    # inside the measured window.
    workload.cpu.bytes_per_us()
    recorder = Recorder()
    offered = source.prepare(spec)
    specs = offered.service_specs()
    outages: list[WorkloadOutage] = []
    if spec.outages:
        if spec.services != "sim":
            raise ConfigError("an outage needs the simulated services (--services sim)")
        check_outages(specs, spec.outages, spec.duration_s)
        services, outages = services_with_outages(specs, spec.seed, recorder.record, spec.outages)
    else:
        services = subscribers(spec.services, specs, spec.seed, recorder.record)
    for sub, handler in services:
        router.subscribe(sub, handler)
    await router.start()
    # Measured before the schedule is built, which costs the harness, not the router (a
    # trace's schedule is built first, to size the services, and its time taken out).
    startup_s = time.time() - process_start - offered.prepare_s
    rss = RssSampler()
    rss_idle = rss.sample_nowait()
    schedule = offered.schedule()
    events = schedule.events()
    offsets: list[int] = schedule.t_ns.tolist()

    gc.collect()
    gc.freeze()
    rss_setup = rss.sample_nowait()
    lag = LoopLagMonitor()
    pauses = GcPauses()
    sampler = RouterSampler(router.stats)
    ready = [asyncio.Event(), asyncio.Event(), asyncio.Event()]
    monitor_tasks = [
        asyncio.create_task(lag.run(ready[0])),
        asyncio.create_task(rss.run(ready[1])),
        asyncio.create_task(sampler.run(ready[2])),
    ]
    for flag in ready:
        await flag.wait()
    waker = open_waker()
    if waker is not None:
        waker.attach(asyncio.get_running_loop())
    pauses.install()
    external = ExternalCpu.from_environment()
    external_before = external.sample()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    steal_before = machine_steal_s()
    t0_ns = time.perf_counter_ns() + LEAD_NS
    for outage in outages:
        outage.begin(t0_ns)
    log = GeneratorLog(t0_ns)

    def harness_bytes() -> int:
        # The recorded sequence numbers are the events' own ints: only their pointers count.
        return list_bytes(recorder.seqs, own_ints=False) + list_bytes(
            recorder.stamps, log.batch_end, log.batch_t, log.rejected_seq,
            lag.lags_ns, sampler.t_ns, sampler.pending, sampler.open_copies,
        )  # fmt: skip

    rss.harness = harness_bytes
    try:
        log = await run_open_loop(router.publish, events, offsets, t0_ns, waker, log)
        drain = await router.drain(spec.drain_timeout_s)
    finally:
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        external_cpu_s = external.since(external_before)
        steal_s = machine_steal_s() - steal_before
        pauses.remove()
        if waker is not None:
            waker.close()
        for task in monitor_tasks:
            task.cancel()
        await asyncio.gather(*monitor_tasks, return_exceptions=True)
        gc.unfreeze()
    stats = router.stats()

    done_seq, done_t = recorder.arrays(t0_ns)
    arrays = measure.RunArrays(
        intended=np.asarray(schedule.t_ns, dtype=np.int64),
        phase_idx=schedule.phase_idx,
        category_idx=schedule.category_idx,
        dispatch=log.dispatch_ns(),
        accepted=log.accepted_mask(),
        done_seq=done_seq,
        done_t=done_t,
        payload_size=schedule.payload_size,
    )
    phase_list = list(schedule.phases)
    histograms = measure.histograms(
        arrays, [p.name for p in phase_list], [str(c) for c in schedule.categories]
    )
    phases = measure.phases(
        arrays,
        [p.name for p in phase_list],
        [p.start_s for p in phase_list],
        [p.duration_s for p in phase_list],
    )
    accounting = _accounting(
        stats,
        log.published,
        log.accepted,
        log.rejected,
        len(recorder),
        drain.completed,
        drain.duration_s,
    )
    # getrusage resolves microseconds; os.times() only clock ticks (10 ms).
    user = cpu_after.ru_utime - cpu_before.ru_utime
    system = cpu_after.ru_stime - cpu_before.ru_stime
    resources = Resources(
        startup_s=startup_s,
        rss_idle_bytes=rss_idle,
        rss_setup_bytes=rss_setup,
        rss_peak_bytes=rss.peak_bytes,
        ru_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        cpu_s=user + system,
        cpu_user_s=user,
        cpu_system_s=system,
        cpu_us_per_event=(user + system) * 1e6 / max(1, len(events)),
        gc_pauses=pauses.count,
        gc_pause_total_s=pauses.total_ns / 1e9,
        gc_pause_max_s=pauses.max_ns / 1e9,
        loop_lag_p99_ms=lag.percentile_ms(99.0),
        loop_lag_max_ms=lag.max_ms(),
        publish_s=log.publish_ns / 1e9,
        steal_s=steal_s,
        external_cpu_s=external_cpu_s,
    )
    window_s = float(schedule.duration_s)
    lag_values, _ = arrays.values("dispatch_lag")
    checks = gates.evaluate(
        accounting,
        len(events),
        next(h.summary.p99 for h in histograms if h.metric == "dispatch_lag"),
        int(lag_values.max()) if lag_values.size else 0,
        resources.loop_lag_p99_ms,
    )
    rates = error_rates(accounting)
    response, response_seq = arrays.values("response")
    intended_done = arrays.intended[response_seq]
    sample_t, backlog, open_copies = sampler.series(t0_ns)
    rss_t = np.asarray(rss.t_ns, dtype=np.int64) - t0_ns
    line = timeline.build(
        window_s, done_t, intended_done, response, sample_t, backlog, open_copies,
        rss_t, np.asarray(rss.rss, dtype=np.int64), np.asarray(rss.harness_bytes, dtype=np.int64),
    )  # fmt: skip
    recoveries = recovery.measure_all(
        phase_list, spec.outages, window_s, intended_done, response, sample_t, backlog
    )
    return RunResult(
        schema=SCHEMA,
        spec=spec,
        schedule_hash=str(schedule.hash),
        events=len(events),
        window_s=window_s,
        throughput_dps=measure.completed_in(done_t, 0, int(window_s * 1e9)) / window_s,
        reject_rate=rates.reject_rate,
        failure_rate=rates.failure_rate,
        valid=all(g.passed for g in checks),
        reasons=gates.reasons(checks),
        gates=checks,
        accounting=accounting,
        resources=resources,
        phases=phases,
        histograms=histograms,
        payload_mbps=arrays.payload_mb_in(0, int(window_s * 1e9)) / window_s,
        services=sampler.services(stats),
        recoveries=recoveries,
        timeline=line,
    )
