"""Helpers for the bench's trace tests: small traces written with the trace writer, and
a scenarios file of one's own."""

from __future__ import annotations

from pathlib import Path

from events.config import CONFIG_DIR
from workload.traces import TraceEvent, TraceWriter

SUBJECTS = ("fs.file.created", "db.row.inserted.users", "mcp.tool.called.git", "app.login")


def steady_trace(path: Path, *, events: int, rate: float, name: str = "steady") -> Path:
    """``events`` events ``1/rate`` seconds apart, cycling over four subjects (one category
    each; ``app.login`` has none of its own, so ``[categories]`` decides)."""
    gap_ns = round(1e9 / rate)
    with TraceWriter(path, name=name, tool="tests") as writer:
        for i in range(events):
            writer.write(TraceEvent(t=i * gap_ns, subject=SUBJECTS[i % 4], size=64 + i % 7))
        writer.close()
    return path


#: A profile only the custom scenarios file has, and a prefix it maps elsewhere.
CUSTOM_PROFILE = """
[profiles.tiny]
services = 2
payload_bytes = 128
base_rate = 100.0
duration_s = 1.0
"""


def custom_scenarios(folder: Path) -> Path:
    """The shipped scenarios plus a ``tiny`` profile: a run can only find it if the file
    reached it."""
    path = folder / "my-scenarios.toml"
    path.write_text((CONFIG_DIR / "scenarios.toml").read_text() + CUSTOM_PROFILE)
    return path
