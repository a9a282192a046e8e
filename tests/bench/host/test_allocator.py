"""The allocator set-up of a measured run."""

from __future__ import annotations

import platform

import pytest

from bench.host import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_pins_the_threshold_on_glibc() -> None:
    """On glibc the mmap threshold is set (mallopt answers success)."""
    assert allocator.pin_mmap_threshold() is True


def test_elsewhere_it_says_it_could_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux nothing is touched and the caller learns it."""
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.pin_mmap_threshold() is False
