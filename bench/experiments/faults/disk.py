"""A small size-capped file system for the full-disk case, or the reason there cannot be one.

A tmpfs mounted with ``size=`` fills up like a full disk (writes fail with
ENOSPC) and costs no device. Mounting needs CAP_SYS_ADMIN (root, or a container
that grants it); without it the case is skipped and the row says why, rather
than faking a full disk by other means.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class NoSmallDisk(Exception):
    """Raised when no size-capped file system can be mounted here; the message says why."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def small_disk(where: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted on ``where`` (created) for the block; unmounted after.

    Raises NoSmallDisk, before the block runs, when it cannot be mounted.
    """
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        raise NoSmallDisk("no mount/umount command on this machine")
    where.mkdir(parents=True, exist_ok=True)
    done = _run([mount, "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(where)])
    if done.returncode != 0:
        message = done.stderr.strip() or f"exit {done.returncode}"
        raise NoSmallDisk(f"cannot mount a {size_bytes // 1024} KiB tmpfs: {message}")
    try:
        yield where
    finally:
        if _run([umount, str(where)]).returncode != 0:
            _run([umount, "-l", str(where)])  # still busy: detach now, freed when let go
