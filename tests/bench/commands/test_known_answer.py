"""Known-answer runs: the bench must report a delay and a capacity that are built in."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.run import worker
from bench.schema import RunSpec, decode_run
from tests.bench import known_routers as routers

#: A 20 ms asyncio.sleep wakes 20-21 ms later (timers resolve ~1 ms); a busy
#: shared machine can add a few ms more.
DELAY_TOLERANCE_MS = (0.0, 8.0)
#: Throughput within the window may differ from the ceiling by the pacer's tick.
CAPACITY_TOLERANCE = 0.10


def test_delay_router_shows_its_delay_in_response_p50() -> None:
    """A router adding 20 ms to every delivery reports a response p50 of 20 ms (+0..8 ms)."""
    spec = RunSpec(
        arch="tests.bench.known_routers:DelayRouter",
        profile="light",
        pattern="steady",
        seed=3,
        duration_s=1.0,
        base_rate=300.0,
        services="noop",
    )
    result = worker.run(spec)
    p50_ms = result.summary("response").p50 / 1e6
    low, high = DELAY_TOLERANCE_MS
    expected_ms = routers.DELAY_S * 1e3
    assert expected_ms + low <= p50_ms <= expected_ms + high, p50_ms
    assert result.accounting.identity_errors == ()
    assert result.accounting.delivered == result.accounting.bench_completions


def test_capacity_router_shows_its_ceiling_in_throughput() -> None:
    """Offered twice its capacity, a router releasing 1000 deliveries/s shows ~1000/s."""
    spec = RunSpec(
        arch="tests.bench.known_routers:CapacityRouter",
        profile="light",
        pattern="steady",
        seed=4,
        duration_s=1.0,
        base_rate=2 * routers.CAPACITY_PER_S,
        services="noop",
        drain_timeout_s=10.0,
    )
    result = worker.run(spec)
    ratio = result.throughput_dps / routers.CAPACITY_PER_S
    assert abs(ratio - 1.0) <= CAPACITY_TOLERANCE, result.throughput_dps
    assert result.events == result.accounting.delivered
    assert result.accounting.identity_errors == ()


def test_lossy_router_run_is_invalid_with_the_reason_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bench run`` on a router that drops events but counts them delivered: exit 3,
    the completions gate failed, and the result still written."""
    out = tmp_path / "run.json"
    code = main(
        [
            "run", "--arch", "tests.bench.known_routers:LossyRouter", "--profile", "light",
            "--pattern", "steady", "--seed", "5", "--duration", "0.5", "--base-rate", "200",
            "--services", "noop", "--json", str(out), "--quiet",
        ]
    )  # fmt: skip
    assert code == 3
    result = decode_run(out.read_bytes())
    failed = [g.name for g in result.gates if not g.passed and g.scope == "all"]
    assert failed == ["completions"]
    assert result.valid is False
    assert "completions:" in capsys.readouterr().err
