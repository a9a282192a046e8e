"""How much of the ingress is being refused lately: the readiness probe's intake signal.

A daemon that answers 503 or 429 to most requests is not ready, even when each
refusal is correct (a dead subscriber holding mailboxes at high water, every
client over its rate limit): a load balancer should send traffic elsewhere.

The server samples its cumulative request counters every admission tick; this
keeps the samples of the last ``span_s`` seconds and compares the oldest with
the newest. Intake counts as refusing when at least ``min_requests`` ingress
requests were answered over that span and more than ``ratio`` of them were 503
or 429. Pure synchronous state; the caller passes the time.
"""

from __future__ import annotations

from collections import deque

#: Status codes that mean "intake refused this request" (not the client's fault).
REFUSED_STATUSES = frozenset({429, 503})


class RefusalWindow:
    """Cumulative (requests, refused) samples over the last ``span_s`` seconds."""

    def __init__(self, span_s: float = 10.0, ratio: float = 0.5, min_requests: int = 20) -> None:
        if span_s <= 0 or not 0.0 <= ratio < 1.0 or min_requests < 1:
            raise ValueError("span_s must be > 0, ratio in [0, 1), min_requests >= 1")
        self.span_s = span_s
        self.ratio = ratio
        self.min_requests = min_requests
        self._samples: deque[tuple[float, int, int]] = deque()

    def observe_nowait(self, now: float, requests: int, refused: int) -> None:
        """Record the cumulative counts at ``now`` (seconds, monotonic)."""
        samples = self._samples
        samples.append((now, requests, refused))
        horizon = now - self.span_s
        # Keep the newest sample at or before the horizon: the base of the span.
        while len(samples) > 2 and samples[1][0] <= horizon:
            samples.popleft()

    def window_nowait(self) -> tuple[int, int]:
        """(requests, refused) answered over the span."""
        if len(self._samples) < 2:
            return 0, 0
        _, r0, f0 = self._samples[0]
        _, r1, f1 = self._samples[-1]
        return r1 - r0, f1 - f0

    def refusing_nowait(self) -> str:
        """Why intake counts as refusing now, or "" when it does not."""
        requests, refused = self.window_nowait()
        if requests < self.min_requests or refused <= self.ratio * requests:
            return ""
        return (
            f"refusing intake: {refused} of {requests} ingress requests answered 503/429"
            f" over the last {self.span_s:g} s"
        )


def ingress_counts(http: dict[tuple[str, int], int], routes: frozenset[str]) -> tuple[int, int]:
    """(requests, refused) so far on ``routes`` from the server's per-(route, code) counters."""
    requests = refused = 0
    for (route, code), n in http.items():
        if route in routes:
            requests += n
            if code in REFUSED_STATUSES:
                refused += n
    return requests, refused
