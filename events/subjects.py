"""Subject grammar (NATS style) and the reference matcher both routers share.

Subjects are dot-separated tokens. In a pattern, ``*`` matches exactly one token
and ``>`` matches one or more trailing tokens; ``>`` must be the last token.
Both are bounded: at most :data:`SUBJECT_MAX_BYTES` bytes and
:data:`SUBJECT_MAX_TOKENS` tokens of printable ASCII, no space (NATS recommends
ASCII subjects; it also lets the OpenAPI document state the rule exactly). This
module is the one validator: the ingress, both routers, stream patterns and trace
import all call it.
"""

from __future__ import annotations

from functools import lru_cache

from events.errors import InvalidSubject

#: The most bytes (= characters: subjects are printable ASCII) a subject or pattern may
#: have: clients choose subjects, and every per-subject structure (caches, counters,
#: mailboxes) is bounded in bytes by it.
SUBJECT_MAX_BYTES = 256
#: The most dot-separated tokens a subject or pattern may have.
SUBJECT_MAX_TOKENS = 16
#: How much of an invalid subject an error message quotes: a message never repeats
#: a client's whole (possibly megabyte-long) subject.
QUOTE_CHARS = 64

#: The rules :func:`validate_subject` enforces, as named in ``InvalidSubject.rule``.
RULE_TYPE = "type"
RULE_EMPTY = "empty"
RULE_MAX_BYTES = "max_bytes"
RULE_PRINTABLE = "printable"
RULE_WHITESPACE = "whitespace"
RULE_EMPTY_TOKEN = "empty_token"
RULE_MAX_TOKENS = "max_tokens"
RULE_WILDCARD = "wildcard"


def quote(text: str) -> str:
    """``repr(text)``, cut to :data:`QUOTE_CHARS` characters (with the full length) when longer."""
    if len(text) <= QUOTE_CHARS:
        return repr(text)
    return f"{text[:QUOTE_CHARS]!r}... ({len(text)} characters)"


def _tokens(text: str, what: str) -> list[str]:
    if not isinstance(text, str):
        raise InvalidSubject(f"{what} must be a string, got {type(text).__name__}", RULE_TYPE)
    if not text:
        raise InvalidSubject(f"{what} is empty", RULE_EMPTY)
    # Length first: an oversized subject is refused before anything walks it.
    if len(text) > SUBJECT_MAX_BYTES:
        raise InvalidSubject(
            f"{what} {quote(text)} is longer than {SUBJECT_MAX_BYTES} bytes", RULE_MAX_BYTES
        )
    if not (text.isascii() and text.isprintable()):
        raise InvalidSubject(
            f"{what} {quote(text)} contains a character outside printable ASCII"
            " (a control character, NUL, or non-ASCII)",
            RULE_PRINTABLE,
        )
    if " " in text:
        # The one printable ASCII whitespace character; the others are control characters.
        raise InvalidSubject(f"{what} {quote(text)} contains whitespace", RULE_WHITESPACE)
    tokens = text.split(".")
    if len(tokens) > SUBJECT_MAX_TOKENS:
        raise InvalidSubject(
            f"{what} {quote(text)} has {len(tokens)} tokens, more than {SUBJECT_MAX_TOKENS}",
            RULE_MAX_TOKENS,
        )
    for index, token in enumerate(tokens):
        if not token:
            raise InvalidSubject(
                f"{what} {quote(text)} has an empty token at position {index}", RULE_EMPTY_TOKEN
            )
    return tokens


def validate_pattern(pattern: str) -> tuple[str, ...]:
    """Return the tokens of ``pattern``; raise :class:`InvalidSubject` naming the problem."""
    tokens = _tokens(pattern, "pattern")
    last = len(tokens) - 1
    for index, token in enumerate(tokens):
        if token == ">" and index != last:
            raise InvalidSubject(
                f"pattern {quote(pattern)}: '>' must be the last token", RULE_WILDCARD
            )
        if len(token) > 1 and ("*" in token or ">" in token):
            raise InvalidSubject(
                f"pattern {quote(pattern)}: wildcard inside token {token!r}"
                " (use it as a whole token)",
                RULE_WILDCARD,
            )
    return tuple(tokens)


def validate_subject(subject: str) -> tuple[str, ...]:
    """Return the tokens of a concrete subject; wildcards are not allowed in one."""
    tokens = _tokens(subject, "subject")
    for token in tokens:
        if "*" in token or ">" in token:
            raise InvalidSubject(
                f"subject {quote(subject)}: wildcards belong in patterns only", RULE_WILDCARD
            )
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
