"""Property: for random subscriptions and events, deliveries equal a simple reference model's."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.architectures import make
from events import Event, Subscription, subject_matches
from tests.conformance.helpers import event

TOKENS = ["fs", "db", "a", "b"]
subject_st = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=4).map(".".join)
pattern_st = st.lists(st.sampled_from([*TOKENS, "*"]), min_size=1, max_size=4).flatmap(
    lambda tokens: st.sampled_from([".".join(tokens), ".".join([*tokens, ">"])])
)
sub_st = st.tuples(pattern_st, st.sampled_from([None, None, "g1", "g2"]))


def expected_routes(
    subs: list[tuple[str, str | None]], subject: str
) -> tuple[set[int], dict[str, set[int]]]:
    """Reference model: every matching ungrouped sub, and the matching members of each group."""
    solo: set[int] = set()
    groups: dict[str, set[int]] = defaultdict(set)
    for index, (pattern, group) in enumerate(subs):
        if subject_matches(pattern, subject):
            if group is None:
                solo.add(index)
            else:
                groups[group].add(index)
    return solo, dict(groups)


async def _route_all(
    name: str, subs: list[tuple[str, str | None]], subjects: list[str]
) -> dict[str, set[int]]:
    router = make(name)
    # A list, judged after drain: an assert inside a handler would only fail the
    # delivery (the router retries it), never the test.
    seen: list[tuple[str, int]] = []

    def handler_for(index: int):  # type: ignore[no-untyped-def]
        async def handler(ev: Event) -> None:
            seen.append((ev.id, index))

        return handler

    for index, (pattern, group) in enumerate(subs):
        sub = Subscription(service=f"s{index}", pattern=pattern, queue_group=group)
        router.subscribe(sub, handler_for(index))
    await router.start()
    for n, subject in enumerate(subjects):
        assert router.publish(event(n, subject)).ok
    report = await router.drain(5.0)
    assert report.stats.identity_errors() == []
    assert len(seen) == len(set(seen)), "a delivery reached its handler twice"
    got: dict[str, set[int]] = defaultdict(set)
    for event_id, index in seen:
        got[event_id].add(index)
    return got


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subs=st.lists(sub_st, min_size=1, max_size=8), subjects=st.lists(subject_st, max_size=12))
def test_deliveries_match_reference_model(
    router_name: str, subs: list[tuple[str, str | None]], subjects: list[str]
) -> None:
    """Each event reaches every matching sub, and exactly one matching member per queue group."""
    got = asyncio.run(_route_all(router_name, subs, subjects))
    for n, subject in enumerate(subjects):
        solo, groups = expected_routes(subs, subject)
        received = got.get(f"e{n}", set())
        assert solo == received - set().union(*groups.values())
        for members in groups.values():
            assert len(received & members) == 1
        assert len(solo) + len(groups) == len(received)
