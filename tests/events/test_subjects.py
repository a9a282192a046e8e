"""Subject grammar and matching: table tests, then properties against a reference."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import InvalidSubject, patterns_overlap, subject_matches, validate_pattern

TABLE = [
    ("fs.file.created", "fs.file.created", True),
    ("fs.file.*", "fs.file.created", True),
    ("fs.*", "fs.file.created", False),
    ("fs.>", "fs.file.created", True),
    ("fs.>", "fs", False),
    (">", "sys.metrics", True),
    ("*", "sys", True),
    ("*", "sys.metrics", False),
    ("*.file.*", "fs.file.moved", True),
    ("db.row.*.users", "db.row.inserted.users", True),
    ("db.row.*.users", "db.row.inserted.orders", False),
    ("svc.*.health", "svc.auth.health", True),
    ("svc.*.health", "svc.auth.status", False),
    ("a.b.c", "a.b", False),
    ("a.b", "a.b.c", False),
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), TABLE)
def test_table(pattern: str, subject: str, expected: bool) -> None:
    """Each row of the table matches (or not) as NATS would."""
    assert subject_matches(pattern, subject) == expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "empty"),
        ("a..b", "empty token"),
        (".a", "empty token"),
        ("a.", "empty token"),
        ("a b", "whitespace"),
        ("a.>.b", "'>' must be the last token"),
        ("a.b*", "wildcard inside token"),
    ],
)
def test_bad_patterns_name_the_problem(pattern: str, problem: str) -> None:
    """An invalid pattern raises a ValueError whose message names what is wrong."""
    with pytest.raises(ValueError, match=re.escape(problem)):
        validate_pattern(pattern)


def test_wildcard_in_subject_is_rejected() -> None:
    """Wildcards belong in patterns; a subject holding one is invalid."""
    with pytest.raises(InvalidSubject, match="wildcards belong in patterns"):
        subject_matches("a.*", "a.*")


def reference_match(pattern: str, subject: str) -> bool:
    """A deliberately different matcher: translate the pattern to a regex."""
    parts = []
    for token in pattern.split("."):
        if token == "*":
            parts.append(r"[^.]+")
        elif token == ">":
            parts.append(r"[^.]+(\.[^.]+)*")
        else:
            parts.append(re.escape(token))
    return re.fullmatch(r"\.".join(parts), subject) is not None


TOKENS = st.sampled_from(["a", "b", "c", "fs", "db"])
SUBJECTS = st.lists(TOKENS, min_size=1, max_size=5).map(".".join)
PATTERN_TOKENS = st.lists(st.sampled_from(["a", "b", "c", "fs", "db", "*"]), min_size=0, max_size=4)


@st.composite
def patterns(draw: st.DrawFn) -> str:
    tokens = draw(PATTERN_TOKENS)
    if draw(st.booleans()) or not tokens:
        tokens = [*tokens, ">"]
    return ".".join(tokens)


@given(patterns(), SUBJECTS)
def test_matches_reference(pattern: str, subject: str) -> None:
    """The matcher agrees with a regex-based reference on random inputs."""
    assert subject_matches(pattern, subject) == reference_match(pattern, subject)


@given(patterns(), patterns(), SUBJECTS)
def test_overlap_is_sound(a: str, b: str, subject: str) -> None:
    """If one subject matches both patterns, the patterns are said to overlap."""
    if subject_matches(a, subject) and subject_matches(b, subject):
        assert patterns_overlap(a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (">", "fs.>", True),
        ("db.*", "fs.>", False),
        ("*.file.*", "fs.>", True),
        ("fs", "fs.>", False),
        ("sys.metrics", "sys.>", True),
    ],
)
def test_overlap_table(a: str, b: str, expected: bool) -> None:
    """Overlap decides which modules a subscription can hear from."""
    assert patterns_overlap(a, b) == expected
