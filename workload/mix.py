"""The event mix: which subjects exist per category, and vectorised draws over them.

Categories are drawn with the configured weights; within a category every
subject is equally likely. Payload sizes are log-normal around the profile's
size, clipped, and rounded to ``size / steps_per_size`` so a schedule has only a
few dozen distinct sizes (one shared payload object each when events are built).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from events.model import Category
from events.subjects import subject_matches
from workload.config import PayloadSpec, SubjectSets

#: The subjects of each category, ``{}`` filled from :class:`SubjectSets`.
_TEMPLATES: dict[Category, tuple[tuple[str, str | None], ...]] = {
    Category.FILESYSTEM: (
        ("fs.file.created", None),
        ("fs.file.modified", None),
        ("fs.file.deleted", None),
        ("fs.file.moved", None),
    ),
    Category.DATABASE: (
        ("db.row.inserted.{}", "tables"),
        ("db.row.updated.{}", "tables"),
        ("db.row.deleted.{}", "tables"),
        ("db.txn.committed", None),
    ),
    Category.EXTERNAL: (
        ("ext.api.called.{}", "providers"),
        ("ext.webhook.received.{}", "providers"),
        ("ext.notification.sent", None),
    ),
    Category.MCP: (
        ("mcp.tool.called.{}", "servers"),
        ("mcp.resource.requested.{}", "servers"),
        ("mcp.context.updated", None),
    ),
    Category.SERVICE: (
        ("svc.{}.health", "names"),
        ("svc.{}.status", "names"),
        ("svc.{}.config", "names"),
    ),
    Category.SYSTEM: (
        ("sys.metrics", None),
        ("sys.log.rotated", None),
        ("sys.maintenance", None),
    ),
}


class SubjectTable:
    """Every distinct subject, grouped by category in ``Category`` order."""

    def __init__(self, sets: SubjectSets, weights: list[float]) -> None:
        subjects: list[str] = []
        category_of: list[int] = []
        offsets: list[int] = []
        counts: list[int] = []
        for index, category in enumerate(Category):
            offsets.append(len(subjects))
            for template, key in _TEMPLATES[category]:
                values: list[str] = [""] if key is None else getattr(sets, key)
                for value in values:
                    subjects.append(template.format(value))
                    category_of.append(index)
            counts.append(len(subjects) - offsets[-1])
        self.subjects: tuple[str, ...] = tuple(subjects)
        self.category_of = np.asarray(category_of, dtype=np.int8)
        self.offsets = np.asarray(offsets, dtype=np.int32)
        self.counts = np.asarray(counts, dtype=np.int32)
        self.weights = np.asarray(weights, dtype=np.float64)
        #: Probability of each subject under the mix.
        self.probability = self.weights[self.category_of] / self.counts[self.category_of]

    def match_fraction(self, pattern: str) -> float:
        """The share of events whose subject ``pattern`` matches (expected fan-in)."""
        return float(
            sum(
                p
                for s, p in zip(self.subjects, self.probability, strict=True)
                if subject_matches(pattern, s)
            )
        )

    def draw_categories(self, rng: np.random.Generator, n: int) -> npt.NDArray[np.int8]:
        cumulative = np.cumsum(self.weights)
        cumulative /= cumulative[-1]
        idx = np.searchsorted(cumulative, rng.random(n), side="right")
        # A zero-weight category can never be drawn; the clip only guards rounding at 1.0.
        return np.minimum(idx, len(cumulative) - 1).astype(np.int8)

    def draw_subjects(
        self, rng: np.random.Generator, categories: npt.NDArray[np.int8]
    ) -> npt.NDArray[np.int32]:
        cat = categories.astype(np.intp)
        within = rng.integers(0, self.counts[cat], dtype=np.int32)
        return (self.offsets[cat] + within).astype(np.int32)


def draw_payload_sizes(
    rng: np.random.Generator, n: int, payload_bytes: int, spec: PayloadSpec
) -> npt.NDArray[np.int32]:
    """Sizes around ``payload_bytes`` (median), rounded to a step; zero stays zero."""
    if payload_bytes <= 0:
        return np.zeros(n, dtype=np.int32)
    step = max(1, payload_bytes // spec.steps_per_size)
    sizes = payload_bytes * rng.lognormal(0.0, spec.sigma, n)
    np.clip(sizes, payload_bytes * spec.min_factor, payload_bytes * spec.max_factor, out=sizes)
    np.rint(sizes / step, out=sizes)
    np.maximum(sizes, 1, out=sizes)
    return (sizes * step).astype(np.int32)
