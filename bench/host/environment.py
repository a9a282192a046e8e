"""The machine and versions a comparison ran on, recorded with every result."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from bench.schema import Environment
from events.config import CONFIG_DIR


def command_line() -> list[str]:
    """The command as typed: ``python -m bench …`` rather than the path of ``__main__.py``."""
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return ["python", "-m", "bench", *sys.argv[1:]]
    return list(sys.argv)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_sha() -> str | None:
    """The checkout's commit, or None outside a git checkout or without git."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def config_hash(config_dir: Path = CONFIG_DIR) -> str:
    """SHA-256 (first 16 hex digits) over every configs/*.toml, by name and content."""
    digest = hashlib.sha256()
    for path in sorted(config_dir.glob("*.toml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def package_version(package: str) -> str:
    """The installed version of ``package``, or ``absent``."""
    return _version(package)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def capture(loop: str, seed: int, schedule_hash: str, argv: Sequence[str]) -> Environment:
    return Environment(
        python=platform.python_version(),
        implementation=sys.implementation.name,
        uvloop=_version("uvloop"),
        loop=loop,
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        platform=platform.platform(),
        git_sha=git_sha(),
        config_hash=config_hash(),
        seed=seed,
        schedule_hash=schedule_hash,
        argv=tuple(argv),
    )
