"""Subject grammar (NATS style) and the reference matcher both routers share.

Subjects are dot-separated tokens. In a pattern, ``*`` matches exactly one token
and ``>`` matches one or more trailing tokens; ``>`` must be the last token.
"""

from __future__ import annotations

from functools import lru_cache

from events.errors import InvalidSubject

_FORBIDDEN = frozenset(" \t\r\n\f\v")


def _tokens(text: str, what: str) -> list[str]:
    if not isinstance(text, str):
        raise InvalidSubject(f"{what} must be a string, got {type(text).__name__}")
    if not text:
        raise InvalidSubject(f"{what} is empty")
    if _FORBIDDEN.intersection(text):
        raise InvalidSubject(f"{what} {text!r} contains whitespace")
    tokens = text.split(".")
    for index, token in enumerate(tokens):
        if not token:
            raise InvalidSubject(f"{what} {text!r} has an empty token at position {index}")
    return tokens


def validate_pattern(pattern: str) -> tuple[str, ...]:
    """Return the tokens of ``pattern``; raise :class:`InvalidSubject` naming the problem."""
    tokens = _tokens(pattern, "pattern")
    last = len(tokens) - 1
    for index, token in enumerate(tokens):
        if token == ">" and index != last:
            raise InvalidSubject(f"pattern {pattern!r}: '>' must be the last token")
        if len(token) > 1 and ("*" in token or ">" in token):
            raise InvalidSubject(
                f"pattern {pattern!r}: wildcard inside token {token!r} (use it as a whole token)"
            )
    return tuple(tokens)


def validate_subject(subject: str) -> tuple[str, ...]:
    """Return the tokens of a concrete subject; wildcards are not allowed in one."""
    tokens = _tokens(subject, "subject")
    for token in tokens:
        if "*" in token or ">" in token:
            raise InvalidSubject(f"subject {subject!r}: wildcards belong in patterns only")
    return tuple(tokens)


def is_valid_subject(subject: str) -> bool:
    """True when ``subject`` is a concrete, well-formed subject."""
    try:
        validate_subject(subject)
    except InvalidSubject:
        return False
    return True


def tokens_match(pattern: tuple[str, ...], subject: tuple[str, ...]) -> bool:
    """Match already-split tokens; both sides are assumed valid."""
    n_subject = len(subject)
    for index, token in enumerate(pattern):
        if token == ">":
            return n_subject > index
        if index >= n_subject:
            return False
        if token != "*" and token != subject[index]:
            return False
    return len(pattern) == n_subject


@lru_cache(maxsize=4096)
def _pattern_tokens(pattern: str) -> tuple[str, ...]:
    return validate_pattern(pattern)


def subject_matches(pattern: str, subject: str) -> bool:
    """True when concrete ``subject`` matches ``pattern``.

    Raises :class:`InvalidSubject` when either side breaks the grammar.
    """
    return tokens_match(_pattern_tokens(pattern), validate_subject(subject))


def patterns_overlap(a: str, b: str) -> bool:
    """True when some concrete subject matches both patterns.

    Used to decide which modules (each described by its subject patterns) a
    subscription can ever receive events from.
    """
    ta, tb = _pattern_tokens(a), _pattern_tokens(b)
    for index in range(max(len(ta), len(tb))):
        x = ta[index] if index < len(ta) else None
        y = tb[index] if index < len(tb) else None
        if x == ">" or y == ">":
            # '>' needs at least one more token; the other side must offer one.
            return x is not None and y is not None
        if x is None or y is None:
            return False
        if x != "*" and y != "*" and x != y:
            return False
    return True
