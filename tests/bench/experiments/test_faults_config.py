"""The fault cases' daemon config: the user's file with the witness as the only subscriber."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench.experiments.faults import config
from events.errors import ConfigError


def test_the_packaged_config_becomes_a_case_config_the_daemon_accepts(tmp_path: Path) -> None:
    """Handlers dropped, one webhook on ``>``, port 0, files in the case's directory, the
    journal as asked, the drain capped, every other table kept; ``--check-config`` passes."""
    base = config.load_base(config.default_config())
    tables = config.case_config(
        base, tmp_path, url="http://127.0.0.1:9/hook", policy={"concurrency": 2},
        journal=tmp_path / "j" / "events.jsonl", drain_timeout_s=2.0,
    )  # fmt: skip
    path = config.write_case_config(tables, tmp_path / "daemon.toml")
    written = tomllib.loads(path.read_text())
    expected = {
        "handlers": None,
        "webhooks": [{"service": "witness", "pattern": ">", "url": "http://127.0.0.1:9/hook",
                      "policy": {"concurrency": 2}}],
        "port": 0,
        "journal": (True, str(tmp_path / "j" / "events.jsonl")),
        "dead": str(tmp_path / "dead-letters.jsonl"),
        "drain": 2.0,
        "principals": base["admission"]["principals"],
    }  # fmt: skip
    actual = {
        "handlers": written.get("handlers"),
        "webhooks": written["webhooks"],
        "port": written["server"]["port"],
        "journal": (written["journal"]["enabled"], written["journal"]["path"]),
        "dead": written["lifecycle"]["dead_letter_journal"],
        "drain": written["lifecycle"]["drain_timeout_s"],
        "principals": written["admission"]["principals"],
    }
    assert expected == actual
    check = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    expected_check = (0, "valid (1 subscriptions)")
    assert expected_check == (check.returncode, check.stdout.split(": ", 1)[1].strip())


def test_the_jetstream_config_keeps_its_transport_with_the_case_overrides(tmp_path: Path) -> None:
    """``--transport jetstream`` starts from the packaged JetStream config: its [transport] table
    is kept, the case's server and ack wait replace those fields, the journal stays off, and
    ``--check-config`` accepts it (which connects to nothing)."""
    base = config.load_base(config.default_config("jetstream"))
    override = {"kind": "jetstream", "url": "nats://127.0.0.1:9", "ack_wait_s": 1.0}
    tables = config.case_config(
        base, tmp_path, url="http://127.0.0.1:9/hook", policy={"concurrency": 2},
        journal=None, drain_timeout_s=None, transport=override,
    )  # fmt: skip
    path = config.write_case_config(tables, tmp_path / "daemon.toml")
    written = tomllib.loads(path.read_text())
    expected = ({**base["transport"], **override}, False)
    assert expected == (written["transport"], written["journal"]["enabled"])
    check = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    expected_code = 0
    assert expected_code == check.returncode, check.stdout + check.stderr


def test_toml_keys_and_strings_that_need_quoting_round_trip() -> None:
    """Keys with dots or spaces are quoted, strings escaped; what is written reads back equal."""
    tables = {"a": {"x.y": 'q"uote\n', "n": [1, 2.5, True], "t": {"k k": {"r": 1}}}, "v": 3}
    assert tables == tomllib.loads(config.to_toml(tables))


def test_an_unreadable_base_config_names_the_file(tmp_path: Path) -> None:
    """A missing or non-TOML --config is a ConfigError naming the path."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    for path in (bad, tmp_path / "absent.toml"):
        with pytest.raises(ConfigError, match=str(path)):
            config.load_base(path)


def test_a_token_turns_auth_on_with_the_suites_principal_next_to_the_users(
    tmp_path: Path,
) -> None:
    """With a token the case config enables auth, keeps the user's tokens, adds
    ``bench-faults`` (publish ``>``, monitor) holding the token's SHA-256 and never the token
    itself, and ``--check-config`` accepts it."""
    user = {"name": "ingest", "sha256": "a" * 64, "publish": ["fs.>"]}
    base = {**config.load_base(config.default_config()), "auth": {"tokens": [user]}}
    token = config.new_token()
    tables = config.case_config(
        base, tmp_path, url="http://127.0.0.1:9/hook", policy={}, journal=None,
        drain_timeout_s=None, token=token,
    )  # fmt: skip
    path = config.write_case_config(tables, tmp_path / "daemon.toml")
    written = tomllib.loads(path.read_text())
    mine = {
        "name": "bench-faults",
        "sha256": hashlib.sha256(token.encode()).hexdigest(),
        "publish": [">"],
        "subscribe": [],
        "monitor": True,
    }
    expected = (True, [user, mine], False)
    assert expected == (
        written["auth"]["enabled"],
        written["auth"]["tokens"],
        token in path.read_text(),
    )
    check = subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    expected_code = 0
    assert expected_code == check.returncode, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("auth", "force", "expected"),
    [({}, False, False), ({"enabled": False}, True, True), ({"enabled": True}, False, True)],
)
def test_auth_runs_when_the_config_enables_it_or_when_asked(
    auth: dict[str, object], force: bool, expected: bool
) -> None:
    """The suite runs with auth on when the user's config enables it, or with ``--auth``."""
    assert expected == config.wants_auth({"auth": auth}, force)
