"""Record → preview → replay: a trace the daemon recorded is read unchanged by the workload
and replayed by the bench.

A daemon subprocess records (``[record] enabled``) the events it accepts, single and
batched; ``POST /v1/record:stop`` and ``:start`` cut the recording at run time; SIGTERM
finishes it. ``python -m workload preview --trace`` and ``python -m bench compare
--trace`` then read the files. Nothing here asserts on timing.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.cli import main
from bench.schema import load_compare
from tests.daemon.server.support import final_report, start_daemon, stop, write_config
from workload.traces import Transform, read_trace, trace_schedule

ROOT = Path(__file__).resolve().parents[3]

SUBJECTS = ("fs.file.created", "db.row.inserted.users", "mcp.tool.called.git", "app.login")

RECORDING = """
[record]
enabled = true
path = "{tmp}/rec/today.jsonl"

[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
"""


def sent(i: int) -> dict[str, Any]:
    """The i-th event the test sends: four subjects, sizes and priorities, two sources."""
    event: dict[str, Any] = {
        "subject": SUBJECTS[i % 4],
        "source": f"client-{i % 2}",
        "priority": i % 4,
        "payload": base64.b64encode(b"x" * (10 + i % 90)).decode(),
    }
    if SUBJECTS[i % 4] == "app.login":
        event["category"] = "service"  # its prefix names no category
    return event


def post(url: str, body: Any) -> dict[str, Any]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


@pytest.mark.timeout(240)
def test_a_recorded_trace_previews_and_replays_with_its_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 single and 180 batched events are recorded in order with their subjects, sizes,
    sources, priorities and categories; record:stop finishes that file and answers its
    counts, record:start begins the next (the first rotates to ``.1``); the workload's
    preview reads the file, and compare --trace replays exactly its events in both
    architectures, each run accounting for every delivery."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(ROOT)
    proc, base = start_daemon(write_config(tmp_path, RECORDING))
    try:
        for i in range(20):
            post(f"{base}/v1/events", sent(i))
        for first in range(20, 200, 50):
            post(f"{base}/v1/events:batch", [sent(i) for i in range(first, min(first + 50, 200))])
        recording = get(f"{base}/v1/status")["record"]
        stopped = post(f"{base}/v1/record:stop", {})
        started = post(f"{base}/v1/record:start", {})
        post(f"{base}/v1/events", sent(200))
        proc.terminate()
        report = final_report(proc)
    finally:
        stop(proc)
    path = tmp_path / "rec" / "today.jsonl"
    assert (recording["state"], recording["offered"]) == ("recording", 200)
    assert (stopped["state"], stopped["recorded"], stopped["dropped"], stopped["files"]) == (
        "off",
        200,
        0,
        [str(path)],
    )
    assert (started["state"], started["offered"]) == ("recording", 0)
    assert report["accepted"] == 201

    first, last = read_trace(path.with_name("today.jsonl.1")), read_trace(path)
    events = [sent(i) for i in range(200)]
    assert (len(first), len(last)) == (200, 1)
    assert [e["subject"] for e in events] == [first.subjects[i] for i in first.subject_idx]
    assert [10 + i % 90 for i in range(200)] == first.size.tolist()
    assert [e["priority"] for e in events] == first.priority.tolist()
    assert [e["source"] for e in events] == [first.sources[i] for i in first.source_idx]
    assert first.t_ns.tolist() == sorted(first.t_ns.tolist())
    assert (first.name, first.header.payloads) == ("today", False)

    preview = subprocess.run(
        [
            sys.executable,
            "-m",
            "workload",
            "preview",
            "--trace",
            str(path.with_name("today.jsonl.1")),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert preview.returncode == 0, preview.stderr
    assert f"trace hash {first.hash}" in preview.stdout
    assert "events 200 over" in preview.stdout

    out = tmp_path / "compare.json"
    code = main([
        "compare", "--trace", str(path.with_name("today.jsonl.1")), "--profile", "light",
        "--arch", "daemon,coordinator", "--runs", "2", "--max-runs", "2", "--warmup", "0",
        "--json", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result = load_compare(out)
    expected = trace_schedule(first, profile="light", transform=Transform(seed=1))
    assert (result.settings.pattern, result.environment.schedule_hash) == (
        "trace:today",
        expected.hash,
    )
    for record in result.runs:
        run = record.result
        assert run.spec.trace is not None
        assert (run.spec.trace.hash, run.events) == (first.hash, 200)
        assert run.accounting.bench_completions == run.accounting.delivered
