"""Subject bounds: length in bytes, token count and printable characters, each rule named."""

from __future__ import annotations

import pytest

from events import InvalidSubject, validate_pattern, validate_subject
from events.subjects import (
    RULE_MAX_BYTES,
    RULE_MAX_TOKENS,
    RULE_PRINTABLE,
    RULE_WHITESPACE,
    SUBJECT_MAX_BYTES,
    SUBJECT_MAX_TOKENS,
)


@pytest.mark.parametrize(
    ("subject", "rule"),
    [
        ("a" * (SUBJECT_MAX_BYTES + 1), RULE_MAX_BYTES),
        ("x" * 1_000_000, RULE_MAX_BYTES),
        ("fs.créé", RULE_PRINTABLE),  # printable, but not ASCII
        (".".join("a" * (SUBJECT_MAX_TOKENS + 1)), RULE_MAX_TOKENS),
        ("fs.\x00", RULE_PRINTABLE),
        ("fs.file\x1b[2J", RULE_PRINTABLE),
        ("fs.line\nbreak", RULE_PRINTABLE),
        ("fs.\u2028", RULE_PRINTABLE),
        ("fs.a b", RULE_WHITESPACE),
    ],
)
def test_subject_over_a_bound_names_the_rule(subject: str, rule: str) -> None:
    """Each bound refuses with InvalidSubject whose rule says which bound it was."""
    with pytest.raises(InvalidSubject) as caught:
        validate_subject(subject)
    assert rule == caught.value.rule


def test_patterns_have_the_same_bounds() -> None:
    """A pattern is held to the same bounds as a subject."""
    with pytest.raises(InvalidSubject) as caught:
        validate_pattern("fs." + "*." * SUBJECT_MAX_TOKENS + ">")
    assert caught.value.rule == RULE_MAX_TOKENS


def test_subjects_at_the_bounds_pass() -> None:
    """Exactly 16 tokens, and exactly 256 bytes in few enough tokens, are valid."""
    sixteen = ".".join(["tok"] * SUBJECT_MAX_TOKENS)
    at_bytes = ".".join(["a" * 31] * 8)  # 8 * 31 + 7 dots = 255 bytes
    assert (
        len(validate_subject(sixteen)),
        len(validate_subject(at_bytes + "b")),
    ) == (SUBJECT_MAX_TOKENS, 8)


def test_error_quotes_only_the_start_of_a_huge_subject() -> None:
    """The message of a 1 MB subject stays short: errors never repeat the whole subject."""
    with pytest.raises(InvalidSubject) as caught:
        validate_subject("y" * 1_000_000)
    assert len(str(caught.value)) < 200


def test_printable_ascii_punctuation_passes() -> None:
    """Any printable ASCII but space, '.', '*' and '>' may appear in a token."""
    assert validate_subject("fs.a-b_c:d/e@f~g") == ("fs", "a-b_c:d/e@f~g")
