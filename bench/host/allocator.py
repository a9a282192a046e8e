"""The C allocator's set-up for a measured run: big blocks always come from mmap.

The recorder's and the generator's lists grow to a million entries during a
run. glibc raises its mmap threshold after a large block is freed (set-up
frees plenty), so later list growth is served from the heap, and each
``realloc`` of a multi-megabyte list copies it: a stall of 4-11 ms measured
here every time a list outgrows its block, which shows up as dispatch lag
the harness caused itself. A fixed threshold keeps large blocks on mmap, where
glibc grows them with ``mremap`` and copies nothing. Both architectures run
under the same setting.
"""

from __future__ import annotations

import ctypes
import sys

#: ``M_MMAP_THRESHOLD`` in glibc's ``malloc.h``.
_M_MMAP_THRESHOLD = -3
#: glibc's default threshold, before any dynamic adjustment.
MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold (no dynamic raise); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes))
