"""Scale-out: N daemon processes on one JetStream stream, driven over HTTP, with a USL fit.

Each point starts N ``python -m daemon`` processes with the same ``[transport]
kind = "jetstream"`` table (a stream in a namespace of the point's own, on the
command's nats-server), one no-op subscription on ``>``, so they share one
durable consumer. The HTTP driver (``bench.http.driver``) offers the seeded
open-loop schedule to them in turn; 202 means stored in the stream. Measured:
deliveries/s over the window until nothing is pending (the summed statuses),
acceptance latency (intended time to 202), delivery latency (the daemons'
histograms), the daemons' CPU (their statuses) and nats-server's CPU over the
point (``bench.host.external``). The point's streams are deleted after it.

Throughput is a capacity only where the offered rate exceeds it: a point that
delivered ``LOAD_LIMITED`` of what was offered was capped by the load and is
left out of the fit. With three or more process counts the Universal
Scalability Law is fitted (``bench.analysis.usl``); with two (1 and N) only
the contention sigma is estimated, kappa taken as 0. The projection to M
machines evaluates the fitted curve at M (one daemon per machine): a
projection, labelled so, which also says how many cores the single nats-server
would need at that rate from its measured CPU per event.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import numpy as np

from bench.analysis.usl import UslFit, fit_usl, usl
from bench.host.external import ExternalCpu
from bench.http.bare import Server, spawn_daemon
from bench.http.driver import LoadConfig, LoadResult, run_load

#: Completions at or above this share of the offered events: capped by the load.
LOAD_LIMITED = 0.95
#: Machines the projection is evaluated at.
PROJECTED_MACHINES: tuple[int, ...] = (1, 2, 4, 8, 16)
#: The name nats-server's pid is recorded under (``bench.host.nats.SERVER_NAME``).
SERVER_NAME = "nats-server"

DAEMON_CONFIG = """
[server]
host = "127.0.0.1"
port = 0
client_max_size = 67108864
max_batch = 100000
[admission]
high_water = 1.0
[lifecycle]
drain_timeout_s = {drain_s}
dead_letter_journal = "{workdir}/dead-letters-{index}.jsonl"
[logging]
format = "json"
level = "warning"
[transport]
kind = "jetstream"
url = "{url}"
stream = "SCALE_{namespace}"
dead_letter_stream = "SCALE_{namespace}_DLQ"
subject_prefix = "scale_{namespace}"
max_bytes = {max_bytes}
[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
policy = {{ concurrency = {concurrency}, mailbox = 1000000 }}
"""


class ScaleSettings(msgspec.Struct, frozen=True):
    """What every point runs: the load (a driver config without URLs) and the daemons."""

    load: LoadConfig
    concurrency: int = 16
    max_bytes: int = 512 * 1024 * 1024
    drain_s: float = 30.0


class ScalePoint(msgspec.Struct, frozen=True):
    """One run of N daemon processes."""

    processes: int
    offered_eps: float
    accepted: int
    delivered: int
    throughput_dps: float
    accepted_per_s: float
    acceptance_p50_ms: float
    acceptance_p99_ms: float
    delivery_p50_ms: float
    delivery_p99_ms: float
    daemon_cpu_s: float
    nats_cpu_s: float | None
    nats_cpu_us_per_event: float | None
    #: CPU of the driver (this process) over the point.
    driver_cpu_s: float
    #: Cores kept busy by daemons, nats-server and driver together over the window
    #: (sent to settled): near the machine's core count, the machine itself is the bound.
    cores_busy: float
    load_limited: bool
    valid: bool
    reasons: tuple[str, ...]


class Projection(msgspec.Struct, frozen=True):
    """At ``machines`` daemons: a projection, not a measurement.

    ``throughput_dps`` is the fitted curve there. ``cpu_bound_dps`` assumes each
    machine gives its daemon a core of its own (a daemon is one event loop): the
    daemons' measured CPU per event times the machines. ``nats_cores`` is what
    the one nats-server would spend at that CPU-bound rate, from its measured CPU
    per event: past its cores, the server (unclustered) is the bound.
    """

    machines: int
    throughput_dps: float
    speedup: float
    cpu_bound_dps: float | None
    nats_cores: float | None
    extrapolated: bool


class ScaleAnalysis(msgspec.Struct, frozen=True):
    """The fit over the usable points, the projection, and what limits the answer."""

    speedups: dict[int, float]
    fit: UslFit | None
    sigma_two_point: float | None
    projections: tuple[Projection, ...]
    notes: tuple[str, ...]


def write_config(workdir: Path, index: int, url: str, namespace: str, s: ScaleSettings) -> Path:
    path = workdir / f"daemon-{index}.toml"
    text = DAEMON_CONFIG.format(
        drain_s=s.drain_s, workdir=workdir, index=index, url=url, namespace=namespace,
        max_bytes=s.max_bytes, concurrency=s.concurrency,
    )  # fmt: skip
    path.write_text(text)
    return path


async def delete_streams(url: str, namespace: str) -> None:
    """Remove a point's streams (each reserves its ``max_bytes`` on the server)."""
    import nats
    from nats.errors import Error as NatsError

    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=10)
        for stream in (f"SCALE_{namespace}", f"SCALE_{namespace}_DLQ"):
            # Never created (a daemon failed to start) or already gone: nothing to free.
            with contextlib.suppress(NatsError):
                await js.delete_stream(stream)
    finally:
        await nc.close()


def final_of(stdout: str) -> dict[str, object]:
    """The daemon's ``final {json}`` line (empty if it printed none)."""
    for line in stdout.splitlines():
        if line.startswith("final "):
            report: dict[str, object] = json.loads(line[len("final ") :])
            return report
    return {}


def measure(
    n: int, url: str, nats_pid: int | None, settings: ScaleSettings, offered_eps: float
) -> ScalePoint:
    """Start N daemons, drive them, stop them; answer the point."""
    import uvloop

    namespace = secrets.token_hex(4)
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-scale-"))
    servers: list[Server] = []
    finals: list[dict[str, object]] = []
    nats_cpu = ExternalCpu({SERVER_NAME: nats_pid} if nats_pid is not None else {})
    try:
        for index in range(n):
            servers.append(
                spawn_daemon(str(write_config(workdir, index, url, namespace, settings)), cpu=None)
            )
        cfg = msgspec.structs.replace(
            settings.load, url=servers[0].url, also=tuple(s.url for s in servers[1:])
        )
        before = nats_cpu.sample()
        driver_before = time.process_time()
        result = uvloop.run(run_load(cfg))
        driver_cpu_s = time.process_time() - driver_before
        used = nats_cpu.since(before).get(SERVER_NAME)
    finally:
        for server in servers:
            final = final_of(server.stop(timeout_s=settings.drain_s + 30))
            # A daemon that says it lost something exits non-zero: the point must say so.
            final["exit_code"] = server.proc.returncode
            finals.append(final)
        uvloop.run(delete_streams(url, namespace))
    return point_of(n, result, finals, used, offered_eps, driver_cpu_s)


def point_of(
    n: int,
    result: LoadResult,
    finals: Sequence[dict[str, object]],
    nats_cpu_s: float | None,
    offered_eps: float,
    driver_cpu_s: float = 0.0,
) -> ScalePoint:
    """The point a load result and the daemons' final reports make."""
    reasons = list(result.invalid_reasons)
    if len(finals) < n or not all(f.get("drain_completed") for f in finals):
        reasons.append("a daemon did not drain completely")
    codes = [f.get("exit_code") for f in finals]
    if any(code not in (0, None) for code in codes):
        reasons.append(f"a daemon exited non-zero (exit codes {codes})")
    lost = result.accepted - result.delivered
    if lost:
        reasons.append(f"{lost} accepted events not delivered")
    throughput = result.delivered_per_s
    latency = result.delivery_latency
    window_s = result.delivered / throughput if throughput > 0 else 0.0
    busy = result.daemon_cpu_s + (nats_cpu_s or 0.0) + driver_cpu_s
    return ScalePoint(
        processes=n,
        offered_eps=offered_eps,
        accepted=result.accepted,
        delivered=result.delivered,
        throughput_dps=throughput,
        accepted_per_s=result.accepted_per_s,
        acceptance_p50_ms=result.acceptance.p50_ms,
        acceptance_p99_ms=result.acceptance.p99_ms,
        delivery_p50_ms=latency.get("p50_ms", 0.0),
        delivery_p99_ms=latency.get("p99_ms", 0.0),
        daemon_cpu_s=result.daemon_cpu_s,
        nats_cpu_s=nats_cpu_s,
        nats_cpu_us_per_event=nats_cpu_s / result.delivered * 1e6
        if nats_cpu_s is not None and result.delivered
        else None,
        driver_cpu_s=driver_cpu_s,
        cores_busy=busy / window_s if window_s > 0 else 0.0,
        load_limited=offered_eps > 0 and throughput >= LOAD_LIMITED * offered_eps,
        valid=not reasons,
        reasons=tuple(reasons),
    )


def sweep(
    levels: Sequence[int],
    runs: int,
    url: str,
    nats_pid: int | None,
    settings: ScaleSettings,
    offered_eps: float,
    on_point: Callable[[ScalePoint], None] = lambda point: None,
) -> list[ScalePoint]:
    """Every level ``runs`` times, the order reversed each round (drift hits all alike)."""
    points: list[ScalePoint] = []
    order = list(levels)
    for _ in range(runs):
        for n in order:
            point = measure(n, url, nats_pid, settings, offered_eps)
            points.append(point)
            on_point(point)
        order.reverse()
    return points


def _median_by_level(points: Sequence[ScalePoint]) -> dict[int, float]:
    by: dict[int, list[float]] = {}
    for p in points:
        by.setdefault(p.processes, []).append(p.throughput_dps)
    return {n: float(np.median(xs)) for n, xs in sorted(by.items())}


def analyse(points: Sequence[ScalePoint], resamples: int = 1000) -> ScaleAnalysis:
    """Speed-ups, the USL fit (or the two-point sigma) and the projection to machines."""
    notes: list[str] = []
    usable = [p for p in points if p.valid and not p.load_limited and p.throughput_dps > 0]
    if len(usable) < len(points):
        limited = sorted({p.processes for p in points if p.load_limited})
        invalid = sorted({p.processes for p in points if not p.valid})
        if limited:
            notes.append(
                f"N = {limited}: throughput reached the offered load (capped by the load, not"
                " by the processes): left out of the fit; raise --base-rate"
            )
        if invalid:
            notes.append(f"N = {invalid}: invalid points left out")
    medians = _median_by_level(usable)
    base = medians.get(1)
    speedups = {n: x / base for n, x in medians.items()} if base else {}
    fit: UslFit | None = None
    sigma2: float | None = None
    lam = base
    sigma = kappa = 0.0
    if len(medians) >= 3:
        try:
            fit = fit_usl(
                [p.processes for p in usable],
                [p.throughput_dps for p in usable],
                resamples=resamples,
            )
            lam, sigma, kappa = fit.lambda_, fit.sigma, fit.kappa
        except ValueError as exc:
            notes.append(f"no USL fit: {exc}")
    elif len(medians) == 2 and base:
        n2 = max(medians)
        sigma2 = (n2 / speedups[n2] - 1) / (n2 - 1)
        sigma = sigma2
        notes.append(
            f"two process counts: sigma {sigma2:.3g} from the speed-up at N={n2}, kappa taken"
            " as 0 (a lower bound on the contention cost; measure 3+ counts for a USL fit)"
        )
    else:
        notes.append("no fit: fewer than two usable process counts (with N=1 among them)")
    projections: list[Projection] = []
    if lam and (fit is not None or sigma2 is not None):
        cpu = [p.nats_cpu_us_per_event for p in usable if p.nats_cpu_us_per_event is not None]
        nats_us = float(np.median(cpu)) if cpu else None
        daemon = [p.daemon_cpu_s / p.delivered * 1e6 for p in usable if p.delivered]
        daemon_us = float(np.median(daemon)) if daemon else None
        top = max(medians)
        for m in PROJECTED_MACHINES:
            x = float(usl(np.array([float(m)]), lam, sigma, kappa)[0])
            bound = m * 1e6 / daemon_us if daemon_us else None
            projections.append(
                Projection(
                    machines=m,
                    throughput_dps=x,
                    speedup=x / lam,
                    cpu_bound_dps=bound,
                    nats_cores=nats_us * bound / 1e6 if nats_us and bound else None,
                    extrapolated=m > top,
                )
            )
        notes.append(
            "projection: the fitted curve at M machines, one daemon each, one nats-server;"
            " measured on one machine, where the processes also share its cores with each"
            " other, the driver and nats-server, so its sigma and kappa include that"
            " sharing; the CPU-bound figure gives each daemon a core of its own instead"
        )
    return ScaleAnalysis(speedups, fit, sigma2, tuple(projections), tuple(notes))
