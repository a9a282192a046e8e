"""What a run offers (bench/run/source.py) and who subscribes (bench/run/services.py), in parts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

import workload
from bench.run import services, source
from bench.schema import RunSpec, TraceReplay
from events import Event
from events.errors import ConfigError
from tests.bench import service_factories
from tests.bench.tracebench import steady_trace
from workload.traces import Transform, read_trace, trace_schedule


def _spec(path: Path, **replay: float) -> RunSpec:
    trace = read_trace(path)
    return RunSpec(
        arch="null", profile="light", pattern=f"trace:{trace.name}", seed=3,
        trace=source.replay_of(trace, path, Transform(seed=3, **replay), windows=10),
    )  # fmt: skip


def test_a_run_rebuilds_the_schedule_its_parent_saw(tmp_path: Path) -> None:
    """The worker's schedule from the RunSpec is the parent's: same hash, same events."""
    path = steady_trace(tmp_path / "t.jsonl", events=300, rate=100.0)
    spec = _spec(path, speed=2.0, scale=1.5, window_start_s=0.5, window_end_s=2.5)
    parent = trace_schedule(
        read_trace(path), profile="light",
        transform=Transform(speed=2.0, scale=1.5, window_start_s=0.5, window_end_s=2.5, seed=3),
    )  # fmt: skip
    offered = source.prepare(spec)
    assert (parent.hash, len(parent)) == (offered.schedule().hash, len(offered.schedule()))
    assert (offered.schedule().trace is not None, offered.prepare_s > 0) == (True, True)


def test_a_duration_cuts_the_replay_and_the_whole_replay_is_not_cut(tmp_path: Path) -> None:
    """duration_s shorter than the replay ends it there; as long as the replay, changes nothing."""
    path = steady_trace(tmp_path / "t.jsonl", events=300, rate=100.0)
    spec = _spec(path, speed=2.0)
    assert spec.trace is not None
    whole = source.prepare(spec).schedule()
    seconds = source.replay_seconds(spec.trace, read_trace(path).duration_ns)
    assert seconds == whole.duration_s
    same = source.prepare(msgspec.structs.replace(spec, duration_s=seconds)).schedule()
    cut = source.prepare(msgspec.structs.replace(spec, duration_s=0.5)).schedule()
    assert same.hash == whole.hash
    assert (cut.duration_s, len(cut)) == (0.5, 100)


def test_a_trace_changed_since_planning_is_refused(tmp_path: Path) -> None:
    """A worker reads the trace itself and refuses content whose hash the parent did not see."""
    path = steady_trace(tmp_path / "t.jsonl", events=100, rate=100.0)
    spec = _spec(path)
    steady_trace(path, events=101, rate=100.0)
    with pytest.raises(ConfigError, match="the trace changed since the run was planned"):
        source.prepare(spec)


def test_services_are_sized_to_the_trace(tmp_path: Path) -> None:
    """A trace's services take its rate and its own subjects' shares, not the mix's."""
    path = steady_trace(tmp_path / "t.jsonl", events=400, rate=100.0)
    offered = source.prepare(_spec(path))
    shares = {s.name: s.share for s in offered.service_specs()}
    # Four subjects in turn: db.> matches one in four, fs.file.* one in four, > all.
    assert shares == {"datastore": 0.25, "inference": 0.25, "audit": 1.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sim", "sim"),
        ("noop", "noop"),
        ("examples.services:make_handler", "examples.services:make_handler"),
        ("examples/services.py:make_handler", None),
    ],
)
def test_services_option_forms(text: str, expected: str | None) -> None:
    """sim, noop and dotted factories stay as written; a file path becomes absolute."""
    got = services.normalise(text)
    if expected is None:
        expected = f"{Path('examples/services.py').resolve()}:make_handler"
    assert expected == got


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("simulated", "use sim, noop or module:factory"),
        ("module:", "use sim, noop or module:factory"),
        ("tests.bench.no_such_module:f", "cannot import 'tests.bench.no_such_module'"),
        ("tests.bench.service_factories:absent", "has no 'absent'"),
        ("tests.bench.service_factories:not_callable", "'not_callable' is not callable"),
        ("/nowhere/services.py:f", "no such file /nowhere/services.py"),
    ],
)
def test_a_factory_that_cannot_be_had_is_named(text: str, message: str) -> None:
    """Every way a --services value can fail says which, naming the value."""
    with pytest.raises(ConfigError, match=message):
        services.load_factory(services.normalise(text))


def test_a_factory_must_return_an_async_handler() -> None:
    """A factory returning a plain function is refused, naming the service."""
    specs = workload.build_services("light")
    with pytest.raises(ConfigError, match="not an async handler") as caught:
        services.check("tests.bench.service_factories:sync_handler", specs, 1)
    assert "'datastore'" in str(caught.value)


def test_factory_handlers_replace_the_simulated_ones_and_record() -> None:
    """Each service gets the factory's handler (seeded seed + index) under its own
    subscription; a call that returns is recorded as a completion."""
    service_factories.BUILT.clear()
    service_factories.CALLS.clear()
    specs = workload.build_services("light")
    done: list[str] = []
    subs = services.subscribers(
        "tests.bench.service_factories:counting", specs, 5, lambda e: done.append(e.id)
    )
    assert [s.subscription for s in specs] == [sub for sub, _ in subs]
    assert [(s.name, 5 + i) for i, s in enumerate(specs)] == service_factories.BUILT
    event = Event(id="e1", subject="db.row.inserted.users", category="database", source="t")
    asyncio.run(subs[0][1](event))
    assert (service_factories.CALLS, done) == ([("datastore", "e1")], ["e1"])


def test_describe_names_trace_hash_and_options() -> None:
    """One line names the trace, the start of its hash and the replay options."""
    replay = TraceReplay(path="/x", name="app", hash="ab" * 32, speed=2.0, scale=0.5)
    assert source.describe(replay) == "trace app (abababababab), speed 2, scale 0.5, window 0:end s"
