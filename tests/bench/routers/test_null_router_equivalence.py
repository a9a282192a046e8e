"""The null router's two intakes route, count and deliver alike.

``NullRouter.publish`` (started: each delivery begins inside publish) and
``NullRouter._closed`` (before start: deliveries are held, then begun at start)
are two copies of the same routing. The same random publishes go to a router
started first and to one started after them; every ack, delivery and counter
must be equal.
"""

from __future__ import annotations

import asyncio

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.routers.null import NullRouter
from events import Ack, BreakerPolicy, Category, Event, Permanent, RouterStats, Subscription

subject_st = st.sampled_from(["fs.a", "fs.a", "fs.b", "fs.a.b", "b", "fs..a"])
pattern_st = st.sampled_from(["fs.a", "fs.*", "fs.>", "*.a", ">", "b"])
#: (pattern, queue group, fails): a failing subscription raises Permanent for odd events.
sub_st = st.tuples(pattern_st, st.sampled_from([None, None, "g", "h"]), st.booleans())
publish_st = st.tuples(
    subject_st, st.sampled_from([(), (), (), ("s0",), ("s1", "s2"), ("nobody",)])
)
#: Opens after two failures in four calls and stays open for the test: breaker_open is exact.
BREAKER = BreakerPolicy(min_calls=2, window=4, open_s=600.0, on_open="dead_letter")

SubSpec = tuple[str, str | None, bool]
PublishSpec = tuple[str, tuple[str, ...]]


async def _run(
    subs: list[SubSpec], publishes: list[PublishSpec], start_first: bool
) -> tuple[list[Ack], list[tuple[str, str]], RouterStats]:
    router = NullRouter()
    seen: list[tuple[str, str]] = []
    for index, (pattern, group, fails) in enumerate(subs):
        service = f"s{index}"

        async def handler(event: Event, service: str = service, fails: bool = fails) -> None:
            seen.append((service, event.id))
            if fails and event.seq % 2:
                raise Permanent("odd")

        sub = Subscription(service=service, pattern=pattern, queue_group=group, breaker=BREAKER)
        router.subscribe(sub, handler)
    if start_first:
        await router.start()
    acks = []
    for n, (subject, targets) in enumerate(publishes):
        event = Event(
            id=f"e{n}",
            subject=subject,
            category=Category.FILESYSTEM,
            source="t",
            seq=n,
            targets=targets,
        )
        acks.append(router.publish(event))
    if not start_first:
        await router.start()
    report = await router.drain(10.0)
    assert (report.completed, report.stats.identity_errors()) == (True, [])
    return acks, seen, report.stats


@settings(max_examples=150, deadline=None)
@given(subs=st.lists(sub_st, min_size=1, max_size=5), publishes=st.lists(publish_st, max_size=30))
@example(
    # Queue-group round robin, and a breaker that opens part way.
    subs=[("fs.>", "g", True), ("*.a", "g", False), (">", None, True)],
    publishes=[("fs.a", ())] * 8 + [("fs.b", ("s0",))] * 2,
)
def test_publish_started_matches_held_until_start(
    subs: list[SubSpec], publishes: list[PublishSpec]
) -> None:
    """Same acks, deliveries (order included) and counters, started before or after publishing."""
    expected = asyncio.run(_run(subs, publishes, start_first=False))
    actual = asyncio.run(_run(subs, publishes, start_first=True))
    assert expected == actual
