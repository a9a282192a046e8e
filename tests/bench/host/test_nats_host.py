"""The bench's NATS server: started per command and always stopped, or the named one used;
the external-process CPU every run records."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from bench.architectures import needs_nats
from bench.host import external
from bench.host.nats import SERVER_NAME, URL_VARIABLE, nats_for
from events.errors import ConfigError


def test_only_a_jetstream_architecture_needs_a_server() -> None:
    """The registry name and its factory path need NATS; the in-process routers do not."""
    factory = "daemon.jetstream.environment:router_from_environment"
    expected = [False, True, True]
    actual = [needs_nats(a) for a in (["daemon", "null"], ["daemon", "jetstream"], [factory])]
    assert expected == actual


def test_external_pids_round_trip_and_bad_values_are_named() -> None:
    """name=pid pairs survive the environment; a malformed one names the variable."""
    pids = {"nats-server": 12, "x": 3}
    assert pids == external.decode(external.encode(pids))
    with pytest.raises(ConfigError, match=external.VARIABLE):
        external.decode("nats-server=abc")


def test_external_cpu_counts_what_a_process_used() -> None:
    """CPU a watched process burns between two samples is counted (this process, here)."""
    cpu = external.ExternalCpu({"me": os.getpid()})
    before = cpu.sample()
    began = time.process_time()
    while time.process_time() - began < 0.1:
        pass
    # /proc counts in 10 ms ticks: 0.1 s of work reads as at least 0.05 s.
    assert cpu.since(before)["me"] >= 0.05
    assert external.ExternalCpu({"gone": 2**22 + 12345}).names == ()


def test_a_command_gets_its_own_server_and_it_always_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without SWITCHYARD_NATS_URL a server is started, named to the runs, and stopped even
    when the command fails; the environment is as it was afterwards."""
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.delenv(external.VARIABLE, raising=False)
    lines: list[str] = []
    with (
        pytest.raises(RuntimeError, match="command failed"),
        nats_for(["jetstream"], lines.append) as host,
    ):
        assert host is not None
        seen = (os.environ[URL_VARIABLE], external.decode(os.environ[external.VARIABLE]))
        pid = host.pid
        alive = psutil.pid_exists(pid)
        raise RuntimeError("command failed")
    assert (seen, alive, host.owned) == ((host.url, {SERVER_NAME: pid}), True, True)
    assert (psutil.pid_exists(pid), URL_VARIABLE in os.environ) == (False, False)
    assert "nats-server started" in lines[0]


def test_a_named_server_is_used_and_left_running(nats_url: str) -> None:
    """SWITCHYARD_NATS_URL names a running server: it is used (its pid found, so its CPU is
    recorded) and left as it was."""
    with nats_for(["daemon", "jetstream"]) as host:
        assert host is not None
        actual = (host.url, host.owned, host.pid is not None, host.leftovers())
    assert (nats_url, False, True, []) == actual
    assert os.environ[URL_VARIABLE] == nats_url


def test_no_server_for_in_process_architectures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is started, and nothing set, when no architecture needs NATS."""
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    with nats_for(["daemon", "coordinator"]) as host:
        assert (host, os.environ.get(URL_VARIABLE)) == (None, None)
