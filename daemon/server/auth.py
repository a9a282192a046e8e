"""Bearer tokens and what each principal may do: pure, synchronous checks.

A token is known only by the SHA-256 of its UTF-8 bytes (``[[auth.tokens]]``); a
request's token is hashed and compared with every configured digest in constant
time, and a header that passed is remembered so a client's later requests skip the
hash. A principal may publish to a subject its ``publish`` patterns match, and
subscribe with a pattern only when one of its ``subscribe`` patterns covers it
(every subject the asked pattern matches, the allowed one matches too). With auth
off every request is the principal ``anonymous``, allowed everything.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Sequence

import msgspec

from daemon.server.config import ANONYMOUS, AuthConfig, TokenConfig
from events.model import Event
from events.subjects import tokens_match, validate_pattern

#: Subjects whose verdict a principal caches (clients choose subjects: bounded).
VERDICT_CACHE = 4096
#: Authorization headers already verified, kept to skip hashing on later requests.
VERIFIED_CACHE = 256


def digest(token: str) -> str:
    """The lowercase hex SHA-256 of ``token``'s UTF-8 bytes, as ``[[auth.tokens]]`` stores it."""
    return hashlib.sha256(token.encode()).hexdigest()


def pattern_covers(allowed: Sequence[str], asked: Sequence[str]) -> bool:
    """True when every subject matching pattern ``asked`` matches pattern ``allowed``.

    Both are token tuples of valid patterns.
    """
    n_asked = len(asked)
    for index, token in enumerate(allowed):
        if token == ">":
            return n_asked > index  # the rest of ``asked``, whatever it is, is one or more tokens
        if index >= n_asked:
            return False
        mine = asked[index]
        if mine == ">":
            return False  # ``asked`` matches any length here, ``allowed`` a fixed one
        if token != "*" and token != mine:
            return False  # a literal covers only itself ("*" in ``asked`` is wider)
    return len(allowed) == n_asked


class Principal:
    """One authenticated identity and its allow lists; verdicts on subjects are cached."""

    __slots__ = ("admitted", "monitor", "name", "publish", "publish_all", "subscribe", "verdicts")

    def __init__(
        self,
        name: str,
        publish: Iterable[str] = (">",),
        subscribe: Iterable[str] = (">",),
        monitor: bool = True,
    ) -> None:
        self.name = name
        self.publish = tuple(validate_pattern(p) for p in publish)
        self.subscribe = tuple(validate_pattern(p) for p in subscribe)
        self.monitor = monitor
        #: Allowed every subject: the ingress skips the per-subject check.
        self.publish_all = (">",) in self.publish
        self.verdicts: dict[str, bool] = {}
        #: The key of its admitted-events count: made once, not per request.
        self.admitted = (name, "admitted")

    @classmethod
    def of(cls, token: TokenConfig) -> Principal:
        return cls(token.name, token.publish, token.subscribe, token.monitor)

    def may_publish_nowait(self, subject: str) -> bool:
        """True when a publish pattern matches ``subject`` (a valid subject)."""
        verdict = self.verdicts.get(subject)
        if verdict is None:
            tokens = tuple(subject.split("."))
            verdict = any(tokens_match(p, tokens) for p in self.publish)
            if len(self.verdicts) >= VERDICT_CACHE:
                self.verdicts.clear()
            self.verdicts[subject] = verdict
        return verdict

    def forbidden_nowait(self, events: Sequence[Event]) -> int:
        """Index of the first event this principal may not publish, or -1."""
        if self.publish_all:
            return -1
        verdicts = self.verdicts
        for index, event in enumerate(events):
            subject = event.subject
            # The cache hit inlined: this runs once per published event.
            if not (verdicts.get(subject) or self.may_publish_nowait(subject)):
                return index
        return -1

    def may_subscribe_nowait(self, pattern: str) -> bool:
        """True when one subscribe pattern covers ``pattern`` (a valid pattern)."""
        asked = tuple(pattern.split("."))
        return any(pattern_covers(allowed, asked) for allowed in self.subscribe)


#: The principal of every request while auth is off.
EVERYONE = Principal(ANONYMOUS)


class Authenticator:
    """Maps an ``Authorization`` header to its principal; ``None``: 401."""

    def __init__(self, config: AuthConfig) -> None:
        self.enabled = config.enabled
        self._load(config)

    def _load(self, config: AuthConfig) -> None:
        self.config = config
        self.principals = [Principal.of(t) for t in config.tokens]
        self.digests = [t.sha256.encode() for t in config.tokens]
        #: Headers that authenticated, by the whole header. Only successes are kept, so
        #: guesses cannot fill it; a hit is one probe of a hash table whose string hash is
        #: keyed per process, so its timing says nothing about how close a guess came.
        self.verified: dict[str, Principal] = {}

    def reconfigure_nowait(self, config: AuthConfig) -> bool:
        """Swap the tokens in (SIGHUP); False, and nothing changed, when ``enabled`` differs.

        Turning auth on or off takes a restart: the start-up refusal to listen beyond
        loopback without auth must not be bypassed by a reload.
        """
        if config.enabled != self.enabled:
            return False
        self._load(config)
        return True

    def authenticate_nowait(self, header: str | None) -> Principal | None:
        """The principal of ``Authorization: Bearer <token>``; anonymous when auth is off."""
        if not self.enabled:
            return EVERYONE
        if header is None:
            return None
        known = self.verified.get(header)
        if known is not None:
            return known
        if header[:7].lower() != "bearer ":
            return None
        asked = hashlib.sha256(header[7:].strip().encode()).hexdigest().encode()
        found: Principal | None = None
        # Every digest is compared, with no early exit: the time taken says nothing
        # about which token, if any, matched.
        for principal, expected in zip(self.principals, self.digests, strict=True):
            if hmac.compare_digest(asked, expected):
                found = principal
        if found is not None:
            if len(self.verified) >= VERIFIED_CACHE:
                self.verified.clear()
            self.verified[header] = found
        return found


def is_loopback(host: str) -> bool:
    """True when listening on ``host`` is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost, or "" (every interface)


def exposure_refusal(host: str, auth: AuthConfig, insecure: bool) -> str:
    """Why starting on ``host`` is refused ("" when it is not)."""
    if auth.enabled or insecure or is_loopback(host):
        return ""
    return (
        f"refusing to listen on {host or 'every interface'!r} without authentication:"
        " anyone who reaches the port could publish and read every event. Set [auth]"
        " enabled = true with [[auth.tokens]] (python -m daemon token --name NAME prints"
        " one), listen on 127.0.0.1, or pass --insecure to accept the risk"
    )


class NewToken(msgspec.Struct, frozen=True):
    """A freshly made token and the ``[[auth.tokens]]`` table that admits it."""

    token: str
    table: str


def new_token(
    name: str, publish: Sequence[str] = (), subscribe: Sequence[str] = (), monitor: bool = False
) -> NewToken:
    """A random token (256 bits) and its table; raises ConfigError for a bad name or pattern."""
    token = secrets.token_urlsafe(32)
    TokenConfig(name, digest(token), list(publish), list(subscribe), monitor)  # validates

    def toml_list(items: Sequence[str]) -> str:
        return "[" + ", ".join(msgspec.json.encode(i).decode() for i in items) + "]"

    table = "\n".join(
        (
            "[[auth.tokens]]",
            f'name = "{name}"',
            f'sha256 = "{digest(token)}"',
            f"publish = {toml_list(publish)}",
            f"subscribe = {toml_list(subscribe)}",
            f"monitor = {'true' if monitor else 'false'}",
        )
    )
    return NewToken(token, table)
