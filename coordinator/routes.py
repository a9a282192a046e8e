"""A module's routes: compiled per subject from its registrations, cached, narrowed by targets.

A route is what a module's intake needs to queue one event: every plain copy
(in registration order), those of them checked for ``reject`` admission, and
the queue groups (one member of each gets the event). :class:`RouteCache`
compiles a subject's route on a miss by matching the subject against each
registration's pattern, and caches it (bounded, FIFO eviction); a route whose
copies all use ``reject`` and form no group also goes into a second dict that
``DataCoordinator.offer_nowait`` reads directly, its inlined fast path. Both
dicts are cleared in place and never rebound, so the module may hold them
itself (one attribute hop fewer per event).
"""

from __future__ import annotations

from coordinator.registration import Registration
from events.errors import InvalidSubject
from events.subjects import tokens_match, validate_subject

#: A compiled route: every plain copy (in registration order), those of them checked
#: for ``reject`` admission, and the queue groups (one member of each gets the event).
Route = tuple[
    tuple[Registration, ...], tuple[Registration, ...], tuple[tuple[Registration, ...], ...]
]

#: The route of an invalid subject (cached like any other, so a bad subject costs one lookup).
INVALID: Route = ((), (), ())


class RouteCache:
    """The per-subject routes of one module, compiled from its registrations on a miss."""

    __slots__ = ("cache", "fast", "size")

    def __init__(self, size: int) -> None:
        self.cache: dict[str, Route] = {}
        #: Subjects whose copies all use ``reject`` and form no queue group.
        self.fast: dict[str, tuple[Registration, ...]] = {}
        #: The most subjects each dict holds.
        self.size = size

    def clear_nowait(self) -> None:
        self.cache.clear()
        self.fast.clear()

    def miss(self, copies: list[Registration], subject: str) -> Route:
        """Compile, cache and return the route of ``subject`` over ``copies``."""
        try:
            tokens = validate_subject(subject)
        except InvalidSubject:
            route = INVALID
        else:
            route = compile_route([c for c in copies if tokens_match(c.tokens, tokens)])
        for cache in (self.cache, self.fast):
            if len(cache) >= self.size:
                # FIFO eviction: a dict iterates in insertion order.
                del cache[next(iter(cache))]
        self.cache[subject] = route
        plain, checked, groups = route
        if route is not INVALID and not groups and len(checked) == len(plain):
            self.fast[subject] = plain
        return route


def compile_route(copies: list[Registration]) -> Route:
    """Split matching copies into plain ones (and which are reject-checked) and queue groups."""
    groups: dict[str, list[Registration]] = {}
    plain: list[Registration] = []
    for copy in copies:
        if copy.group is not None:
            groups.setdefault(copy.group, []).append(copy)
        else:
            plain.append(copy)
    return (
        tuple(plain),
        tuple(c for c in plain if c.reject),
        tuple(tuple(members) for members in groups.values()),
    )


def narrow_route(route: Route, wanted: set[str]) -> Route:
    """Keep only the copies of the ``wanted`` services (an event's explicit targets)."""
    copies, _, groups = route
    kept = tuple(c for c in copies if c.service in wanted)
    return (
        kept,
        tuple(c for c in kept if c.reject),
        tuple(g for group in groups if (g := tuple(c for c in group if c.service in wanted))),
    )


def pending_of(copy: Registration) -> int:
    """A queue group member's deliveries not yet ended (the member with fewest gets the event)."""
    return copy.pending
