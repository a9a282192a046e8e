"""Tokens, principals and their allow lists, as pure synchronous logic (daemon/server/auth.py)."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.server.auth import (
    EVERYONE,
    Authenticator,
    Principal,
    digest,
    exposure_refusal,
    is_loopback,
    new_token,
    pattern_covers,
)
from daemon.server.config import (
    AuthConfig,
    DaemonConfig,
    TokenConfig,
    load_config,
    restart_required,
)
from events import ConfigError
from events.model import Category, Event
from events.subjects import subject_matches, validate_pattern

TOKEN = "s3cret-token"
DIGEST = hashlib.sha256(TOKEN.encode()).hexdigest()


def covers(allowed: str, asked: str) -> bool:
    return pattern_covers(validate_pattern(allowed), validate_pattern(asked))


@pytest.mark.parametrize(
    ("allowed", "asked", "expected"),
    [
        (">", ">", True),
        (">", "a.*", True),
        ("a.>", "a.b", True),
        ("a.>", "a.>", True),
        ("a.>", "a", False),  # "a" is no subject of "a.>"
        ("a.>", ">", False),
        ("a.*", "a.b", True),
        ("a.*", "a.*", True),
        ("a.*", "a.>", False),  # "a.b.c" matches the asked pattern only
        ("a.b", "a.*", False),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
        ("*.b", "a.b.c", False),
        ("fs.>", "db.>", False),
    ],
)
def test_pattern_covers(allowed: str, asked: str, expected: bool) -> None:
    """A pattern is covered only when every subject it matches the allowed one matches too."""
    assert expected == covers(allowed, asked)


token = st.sampled_from(["a", "b", "c"])
pattern_tokens = st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=3)
patterns = st.one_of(
    pattern_tokens.map(".".join),
    st.lists(st.sampled_from(["a", "b", "*"]), max_size=2).map(lambda t: ".".join([*t, ">"])),
)
subjects = st.lists(token, min_size=1, max_size=5).map(".".join)


@given(allowed=patterns, asked=patterns, subject=subjects)
def test_a_covered_pattern_never_matches_a_subject_the_allowed_one_does_not(
    allowed: str, asked: str, subject: str
) -> None:
    """Soundness against the reference matcher: covered and matching asked imply matching
    allowed."""
    if covers(allowed, asked) and subject_matches(asked, subject):
        assert subject_matches(allowed, subject)


def events(*subjects: str) -> list[Event]:
    return [Event(f"e{i}", s, Category.SYSTEM, "t") for i, s in enumerate(subjects)]


def test_principal_publish_and_subscribe_lists() -> None:
    """Publish is matched per subject; subscribe needs a covering pattern; batch answers the
    first forbidden subject with its index."""
    p = Principal("ingest", publish=["fs.>", "db.row.*"], subscribe=["fs.file.*"], monitor=False)
    assert (
        p.may_publish_nowait("fs.file.created"),
        p.may_publish_nowait("db.row.inserted"),
        p.may_publish_nowait("db.row.inserted.users"),
        p.forbidden_nowait(events("fs.a", "fs.b", "sys.x")),
        p.forbidden_nowait(events("fs.a", "sys.x")),  # the verdict on sys.x is cached now
        p.forbidden_nowait(events("fs.a")),
        p.may_subscribe_nowait("fs.file.created"),
        p.may_subscribe_nowait("fs.>"),
        EVERYONE.forbidden_nowait(events("anything.at.all")),
    ) == (True, True, False, 2, 1, -1, True, False, -1)


def test_authenticator_maps_bearer_tokens_to_principals() -> None:
    """Only a known token in a Bearer header authenticates; auth off is anonymous for all."""
    auth = Authenticator(AuthConfig(enabled=True, tokens=[TokenConfig("ingest", DIGEST)]))
    found = [
        auth.authenticate_nowait(h)
        for h in (f"Bearer {TOKEN}", f"bearer {TOKEN}", "Bearer nope", TOKEN, None)
    ]
    off = Authenticator(AuthConfig()).authenticate_nowait(None)
    names = [p.name if p is not None else None for p in found]
    assert (names, off) == (["ingest", "ingest", None, None, None], EVERYONE)


def test_reload_swaps_tokens_but_never_turns_auth_off() -> None:
    """A reload with other tokens applies (a token verified before is forgotten); one that
    would switch auth off is ignored."""
    auth = Authenticator(AuthConfig(enabled=True, tokens=[TokenConfig("a", DIGEST)]))
    before = auth.authenticate_nowait(f"Bearer {TOKEN}")
    other = TokenConfig("b", digest("other"))
    swapped = auth.reconfigure_nowait(AuthConfig(enabled=True, tokens=[other]))
    refused = auth.reconfigure_nowait(AuthConfig(enabled=False))
    after = [auth.authenticate_nowait(h) for h in (f"Bearer {TOKEN}", "Bearer other")]
    names = [p.name if p else None for p in (before, *after)]
    assert (swapped, refused, names) == (True, False, ["a", None, "b"])


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("::", False),
        ("10.0.0.5", False),
        ("myhost", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only loopback addresses and "localhost" count as reachable from this machine alone."""
    assert expected == is_loopback(host)


def test_exposure_refusal_needs_auth_or_insecure_beyond_loopback() -> None:
    """Beyond loopback without auth is refused, naming --insecure; auth or --insecure allow."""
    on = AuthConfig(enabled=True, tokens=[TokenConfig("a", DIGEST)])
    refusal = exposure_refusal("0.0.0.0", AuthConfig(), insecure=False)
    assert ("--insecure" in refusal, exposure_refusal("0.0.0.0", on, False)) == (True, "")
    assert (
        exposure_refusal("0.0.0.0", AuthConfig(), insecure=True),
        exposure_refusal("127.0.0.1", AuthConfig(), insecure=False),
    ) == ("", "")


def test_new_token_table_admits_the_token() -> None:
    """The printed table parses as TOML, and its sha256 is the digest of the printed token."""
    made = new_token("ingest", ["fs.>"], [], monitor=True)
    table = tomllib.loads(made.table)["auth"]["tokens"][0]
    assert table == {
        "name": "ingest",
        "sha256": digest(made.token),
        "publish": ["fs.>"],
        "subscribe": [],
        "monitor": True,
    }


BAD_AUTH = [
    ('name = "a"\nsha256 = "' + DIGEST.upper() + '"', "64 lowercase hex"),
    ('name = "a"\nsha256 = "abc"', "64 lowercase hex"),
    ('name = ""\nsha256 = "' + DIGEST + '"', "name ''"),
    ('name = "a"\nsha256 = "' + DIGEST + '"\npublish = ["fs..x"]', "publish"),
    ('name = "a"\nsha256 = "' + DIGEST + '"\nsubscribe = ["a.>.b"]', "subscribe"),
]


@pytest.mark.parametrize(("table", "message"), BAD_AUTH)
def test_bad_tokens_are_refused(tmp_path: Path, table: str, message: str) -> None:
    """A digest not 64 lowercase hex digits, an empty name, a bad pattern: ConfigError."""
    path = tmp_path / "d.toml"
    path.write_text(f"[auth]\nenabled = true\n[[auth.tokens]]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f'[[auth.tokens]]\nname = "a"\nsha256 = "{DIGEST}"\n'
            f'[[auth.tokens]]\nname = "a"\nsha256 = "{digest("x")}"\n',
            "configured twice",
        ),
        ("[auth]\nenabled = true\n", "no [[auth.tokens]]"),
        ('[admission.sources]\n"x" = { rate = 1.0, burst = 1.0 }\n', "admission.principals"),
        ('[admission.principals]\n"x" = { rate = 1.0, burst = 1.0 }\n', "names no"),
    ],
)
def test_auth_and_admission_tables_are_checked(tmp_path: Path, text: str, message: str) -> None:
    """Duplicate names, auth on without tokens, the renamed [admission.sources], and a bucket
    for a principal no token names are refused."""
    path = tmp_path / "d.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)


def test_a_reload_flipping_auth_reports_a_restart() -> None:
    """Turning auth on or off in a reloaded config is reported as needing a restart."""
    on = DaemonConfig(auth=AuthConfig(enabled=True, tokens=[TokenConfig("a", DIGEST)]))
    assert (restart_required(DaemonConfig(), on), restart_required(on, on)) == (
        ["auth.enabled"],
        [],
    )
