"""The subject trie agrees with the reference matcher on every subject."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.router.trie import SubjectTrie
from events import InvalidSubject, subject_matches

TOKENS = ["fs", "db", "a", "b"]
subject_st = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=5).map(".".join)
pattern_st = st.lists(st.sampled_from([*TOKENS, "*"]), min_size=1, max_size=5).flatmap(
    lambda tokens: st.sampled_from([".".join(tokens), ".".join([*tokens, ">"]), ">"])
)


@settings(max_examples=60, deadline=None)
@given(patterns=st.lists(pattern_st, max_size=12), subjects=st.lists(subject_st, max_size=12))
def test_trie_matches_brute_force(patterns: list[str], subjects: list[str]) -> None:
    """trie.match returns exactly the patterns subject_matches accepts, in insertion order."""
    trie: SubjectTrie[int] = SubjectTrie()
    values = [object() for _ in patterns]
    for pattern, value in zip(patterns, values, strict=True):
        trie.insert(pattern, value)  # type: ignore[arg-type]
    for subject in subjects:
        expected = [v for p, v in zip(patterns, values, strict=True) if subject_matches(p, subject)]
        assert expected == trie.match(subject.split("."))


def test_trie_examples() -> None:
    """'>' needs at least one trailing token; '*' exactly one."""
    trie: SubjectTrie[str] = SubjectTrie()
    for pattern in ["fs.>", "fs.*", "fs.*.created", ">", "fs.file.created"]:
        trie.insert(pattern, pattern)
    assert trie.match(("fs", "x")) == ["fs.>", "fs.*", ">"]
    assert trie.match(("fs", "file", "created")) == ["fs.>", "fs.*.created", ">", "fs.file.created"]
    assert trie.match(("fs",)) == [">"]
    assert len(trie) == 5


def test_trie_rejects_bad_pattern() -> None:
    """A malformed pattern raises InvalidSubject and leaves the trie unchanged."""
    trie: SubjectTrie[str] = SubjectTrie()
    with pytest.raises(InvalidSubject):
        trie.insert("fs.>.x", "bad")
    assert (len(trie), trie.match(("fs", "a", "x"))) == (0, [])
