"""Validity gates: whether a run's figures may be trusted, and if not, why in plain words.

Gates of scope ``all`` void the whole run (events unaccounted for, the bench
and the router disagreeing on counts). Gates of scope ``capacity`` say the
generator itself fell behind, so the load actually offered was not the load
intended and no throughput claim can rest on the run.
"""

from __future__ import annotations

from bench.schema import Accounting, Gate

#: The generator is behind schedule when its dispatch lag p99 exceeds this.
DISPATCH_LAG_P99_MAX_NS = 5_000_000
#: ... or when any event went out later than this (a backlog built up).
DISPATCH_LAG_MAX_NS = 50_000_000
#: The event loop was stalled when a 5 ms sleep overshot by more than this (p99).
LOOP_LAG_P99_MAX_MS = 20.0


def evaluate(
    accounting: Accounting,
    events: int,
    dispatch_lag_p99_ns: int,
    dispatch_lag_max_ns: int,
    loop_lag_p99_ms: float,
) -> tuple[Gate, ...]:
    """Every gate of one run, passed or not."""
    a = accounting
    gates = [
        Gate(
            "identity",
            not a.identity_errors,
            "all",
            "; ".join(a.identity_errors) or "the router's counters balance",
        ),
        Gate(
            "unaccounted",
            a.unaccounted == 0,
            "all",
            f"{a.unaccounted} deliveries neither delivered, dead-lettered nor dropped after drain",
        ),
        Gate(
            "published",
            a.published == a.bench_published == events,
            "all",
            f"bench published {a.bench_published} of {events} events, router counted {a.published}",
        ),
        Gate(
            "acks",
            a.accepted == a.bench_accepted and a.rejected == a.bench_rejected,
            "all",
            f"bench saw {a.bench_accepted} accepted and rejections {a.bench_rejected},"
            f" router counted {a.accepted} and {a.rejected}",
        ),
        Gate(
            "completions",
            a.bench_completions == a.delivered,
            "all",
            f"handlers completed {a.bench_completions} deliveries, router counted"
            f" {a.delivered} delivered",
        ),
        Gate(
            "dispatch_lag",
            dispatch_lag_p99_ns <= DISPATCH_LAG_P99_MAX_NS,
            "capacity",
            f"generator dispatch lag p99 {dispatch_lag_p99_ns / 1e6:.2f} ms"
            f" (limit {DISPATCH_LAG_P99_MAX_NS / 1e6:.0f} ms)",
        ),
        Gate(
            "backlog",
            dispatch_lag_max_ns <= DISPATCH_LAG_MAX_NS,
            "capacity",
            f"generator fell up to {dispatch_lag_max_ns / 1e6:.1f} ms behind schedule"
            f" (limit {DISPATCH_LAG_MAX_NS / 1e6:.0f} ms)",
        ),
        Gate(
            "loop_lag",
            loop_lag_p99_ms <= LOOP_LAG_P99_MAX_MS,
            "capacity",
            f"event-loop lag p99 {loop_lag_p99_ms:.2f} ms (limit {LOOP_LAG_P99_MAX_MS:.0f} ms)",
        ),
    ]
    return tuple(gates)


def reasons(gates: tuple[Gate, ...]) -> tuple[str, ...]:
    """Plain-word reasons of the failed gates."""
    out = []
    for gate in gates:
        if not gate.passed:
            claim = "no capacity claim: " if gate.scope == "capacity" else ""
            out.append(f"{gate.name}: {claim}{gate.detail}")
    return tuple(out)
