"""Real CPU work for simulated service times: blake2b over a buffer, by the byte.

Sub-millisecond service times cannot be modelled with ``sleep`` (uvloop timers
resolve ~1 ms), and a sleep costs no CPU anyway. A budget of microseconds is
turned into a number of bytes to hash, using a hashing speed measured once per
process (lazily, on first use), so the work scales with the machine but the
amount of work per call is fixed once calibrated.

A bench that compares processes sets ``SWITCHYARD_CPU_BYTES_PER_US`` (measured
once, in the parent) so that every run hashes the same bytes per call: a speed
measured in each process would vary with the machine's load at that moment.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import time

#: Deterministic content to hash; 64 KiB keeps each update call cheap to slice.
_BUFFER = bytes(range(256)) * 256
_CALIBRATION_BYTES = 1 << 20
_CALIBRATION_ROUNDS = 5

_bytes_per_us: float | None = None

#: Environment variable holding a hashing speed to use instead of calibrating.
SPEED_ENV = "SWITCHYARD_CPU_BYTES_PER_US"


def hash_bytes(n: int) -> int:
    """Hash exactly ``n`` bytes of the buffer (repeated as needed); return ``n``."""
    h = hashlib.blake2b(digest_size=16)
    view = memoryview(_BUFFER)
    chunk = len(_BUFFER)
    remaining = n
    while remaining >= chunk:
        h.update(view)
        remaining -= chunk
    if remaining > 0:
        h.update(view[:remaining])
    h.digest()
    return n


def calibrate(rounds: int = _CALIBRATION_ROUNDS) -> float:
    """Measure the hashing speed (bytes per µs; median of ``rounds``) and remember it."""
    global _bytes_per_us
    speeds = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        hash_bytes(_CALIBRATION_BYTES)
        elapsed_us = max(1.0, (time.perf_counter_ns() - start) / 1000.0)
        speeds.append(_CALIBRATION_BYTES / elapsed_us)
    _bytes_per_us = statistics.median(speeds)
    return _bytes_per_us


def bytes_per_us() -> float:
    """The hashing speed: from ``SPEED_ENV`` if set, else calibrated on first call."""
    global _bytes_per_us
    if _bytes_per_us is None:
        given = os.environ.get(SPEED_ENV)
        if given is None:
            return calibrate()
        try:
            speed = float(given)
        except ValueError:
            speed = 0.0
        if not speed > 0:
            raise ValueError(
                f"{SPEED_ENV} must be a positive number of bytes per µs, got {given!r}"
            )
        _bytes_per_us = speed
    return _bytes_per_us


def share_speed_with_children() -> float:
    """Calibrate here (unless already given) and export the speed to child processes."""
    speed = bytes_per_us()
    os.environ[SPEED_ENV] = repr(speed)
    return speed


def burn_us(us: float) -> int:
    """Spend about ``us`` microseconds of CPU hashing; return the bytes hashed."""
    if us <= 0:
        return 0
    return hash_bytes(int(us * bytes_per_us()))
