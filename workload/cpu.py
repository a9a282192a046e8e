"""Real CPU work for simulated service times: blake2b over a buffer, by the byte.

Sub-millisecond service times cannot be modelled with ``sleep`` (uvloop timers
resolve ~1 ms), and a sleep costs no CPU anyway. A budget of microseconds is
turned into a number of bytes to hash, using a hashing speed measured once per
process (lazily, on first use), so the work scales with the machine but the
amount of work per call is fixed once calibrated.
"""

from __future__ import annotations

import hashlib
import statistics
import time

#: Deterministic content to hash; 64 KiB keeps each update call cheap to slice.
_BUFFER = bytes(range(256)) * 256
_CALIBRATION_BYTES = 1 << 20
_CALIBRATION_ROUNDS = 5

_bytes_per_us: float | None = None


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
    """The calibrated hashing speed, calibrating on first call."""
    return calibrate() if _bytes_per_us is None else _bytes_per_us


def burn_us(us: float) -> int:
    """Spend about ``us`` microseconds of CPU hashing; return the bytes hashed."""
    if us <= 0:
        return 0
    return hash_bytes(int(us * bytes_per_us()))
