"""Host calibration: the kernels run, the record is written, and speeds compare kernel by kernel."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from bench.cli import main
from bench.host.calibrate import HOST_SCHEMA, HostSpeed, Kernel, speed_ratio


def _host(**medians: float) -> HostSpeed:
    kernels = tuple(Kernel(k, "u", (v,), v) for k, v in medians.items())
    return HostSpeed(HOST_SCHEMA, "cpu", 2, "3.11", kernels)


def test_the_ratio_is_the_geometric_mean_of_the_kernels_ratios() -> None:
    """Target 2x on one kernel and 1.125x on the other: sqrt(2 x 1.125) = 1.5x overall."""
    ratio = speed_ratio(_host(daemon=2000.0, hash=900.0), _host(daemon=1000.0, hash=800.0))
    assert ratio.ratio == pytest.approx(1.5)
    assert ratio.per_kernel == {"daemon": 2.0, "hash": 1.125}
    assert ratio.spread == (1.125, 2.0)
    with pytest.raises(ValueError, match="no kernel in common"):
        speed_ratio(_host(other=1.0), _host(daemon=1.0))


def test_calibrate_writes_a_record_of_every_kernel(tmp_path: Path) -> None:
    """``host calibrate`` (one short round) writes the daemon, coordinator and hash speeds."""
    out = tmp_path / "host.json"
    assert main(["host", "calibrate", "--out", str(out), "--rounds", "1", "--events", "3000"]) == 0
    record = msgspec.json.decode(out.read_bytes(), type=HostSpeed)
    assert (record.schema, [k.name for k in record.kernels]) == (
        HOST_SCHEMA, ["daemon", "coordinator", "hash"],
    )  # fmt: skip
    assert all(k.median > 0 and math.isfinite(k.median) for k in record.kernels)


@pytest.mark.parametrize(
    "argv",
    [
        ["host", "calibrate", "--out", "/no/such/folder/host.json"],
        ["host", "calibrate", "--out", "h.json", "--rounds", "0"],
        ["capacity", "--arch", "null", "--growth", "8%/month"],
        ["capacity", "--arch", "null", "--peak", "10", "--growth", "lots"],
        ["capacity", "--arch", "null", "--target-host", "/no/such/host.json"],
        ["capacity", "--arch", "null", "--max-time", "0"],
        ["compare", "--arch", "null,null", "--capacity-from", "cap.json"],
        ["compare", "--arch", "null,null", "--at-capacity", "2"],
        ["compare", "--arch", "null,null", "--at-capacity", "0.5", "--base-rate", "100"],
    ],
)
def test_bad_planning_options_exit_2_before_any_run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad --growth, --target-host, --max-time, --at-capacity and friends: exit 2, one line."""
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
