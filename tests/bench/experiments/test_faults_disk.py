"""The full-disk case's small file system, and the reason it gives when there can be none."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bench.experiments.faults.disk import NoSmallDisk, small_disk


def test_without_mount_the_case_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No mount command: NoSmallDisk names why, and the block never runs."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    ran = []
    with (
        pytest.raises(NoSmallDisk, match="no mount/umount command"),
        small_disk(tmp_path / "disk", 65536),
    ):
        ran.append(True)
    expected: list[bool] = []
    assert expected == ran


def test_the_small_disk_fills_up(tmp_path: Path) -> None:
    """Where mounting is permitted, writing past the cap fails with ENOSPC, and the mount is
    gone afterwards."""
    where = tmp_path / "disk"
    try:
        with small_disk(where, 64 * 1024) as disk:
            with pytest.raises(OSError) as caught, (disk / "fill").open("wb") as fh:
                for _ in range(64):
                    fh.write(b"x" * 4096)
                    fh.flush()
                    os.fsync(fh.fileno())
            mounted = os.path.ismount(disk)
    except NoSmallDisk as exc:
        pytest.skip(str(exc))
    expected = (errno.ENOSPC, True, False)
    assert expected == (caught.value.errno, mounted, os.path.ismount(where))
