"""The daemon config of one fault case: the user's config with the witness as its only subscriber.

The user's file (``--config``, default the packaged ``daemon.toml``) gives every
table the suite does not own: router, admission, health, streams, webhook client
and whatever later tables a daemon reads. The suite owns what a case needs to be
counted: the listener (127.0.0.1, port 0), the files (dead letters, final
report, journal) inside the case's directory, the journal on or off, and the
subscribers: in-process handlers are dropped and one webhook, the subscriber the
fault hits, is the only one, so every accepted event has exactly one delivery to
account for. Written as TOML by a small emitter (values in JSON syntax, which
TOML reads for strings, numbers, booleans, arrays and, with ``=``, inline tables).
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from events.config import CONFIG_DIR
from events.errors import ConfigError

#: The service name of the one subscriber every case configures.
SERVICE = "witness"

#: The principal the suite adds, with a token it makes, when a case runs with auth on.
PRINCIPAL = "bench-faults"


def wants_auth(base: dict[str, Any], force: bool) -> bool:
    """Whether the cases run with ``[auth]`` on: the user's config enables it, or ``--auth``."""
    auth = base.get("auth", {})
    return force or (isinstance(auth, dict) and auth.get("enabled") is True)


def new_token() -> str:
    """A fresh random bearer token for the suite's own principal (never written to disk)."""
    return secrets.token_urlsafe(32)


def _with_principal(auth: dict[str, Any], token: str) -> dict[str, Any]:
    """``auth`` enabled, with the suite's principal (publish everything, monitor) added in
    place of any token of the same name; the user's other tokens are kept as they are."""
    mine = {
        "name": PRINCIPAL,
        "sha256": hashlib.sha256(token.encode()).hexdigest(),
        "publish": [">"],
        "subscribe": [],
        "monitor": True,
    }
    kept = [t for t in auth.get("tokens", []) if t.get("name") != PRINCIPAL]
    return {**auth, "enabled": True, "tokens": [*kept, mine]}


def default_config(transport: str = "memory") -> Path:
    """The packaged daemon config of ``transport`` (``configs/daemon.toml``, or
    ``configs/daemon-jetstream.toml`` for ``jetstream``)."""
    name = "daemon-jetstream.toml" if transport == "jetstream" else "daemon.toml"
    return Path(str(CONFIG_DIR / name))


def load_base(path: Path) -> dict[str, Any]:
    """The user's daemon config as plain tables; raises ConfigError when it cannot be read."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the daemon config: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not TOML: {exc}") from None


def case_config(
    base: dict[str, Any],
    workdir: Path,
    *,
    url: str,
    policy: dict[str, Any],
    journal: Path | None,
    drain_timeout_s: float | None,
    transport: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """``base`` with the tables a case owns replaced (see the module docstring); ``transport``
    overrides fields of its ``[transport]`` table (a JetStream case's server and ack wait);
    ``token``, when given, turns ``[auth]`` on with the suite's principal holding it."""
    tables = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    if token is not None:
        tables["auth"] = _with_principal(tables.get("auth", {}), token)
    if transport is not None:
        tables["transport"] = {**tables.get("transport", {}), **transport}
    tables.pop("handlers", None)
    tables["server"] = {**tables.get("server", {}), "host": "127.0.0.1", "port": 0}
    lifecycle = {
        **tables.get("lifecycle", {}),
        "dead_letter_journal": str(workdir / "dead-letters.jsonl"),
        "final_report": str(workdir / "final.json"),
    }
    if drain_timeout_s is not None:
        lifecycle["drain_timeout_s"] = min(
            float(lifecycle.get("drain_timeout_s", drain_timeout_s)), drain_timeout_s
        )
    tables["lifecycle"] = lifecycle
    journal_table = {k: v for k, v in tables.get("journal", {}).items() if k != "path"}
    journal_table["enabled"] = journal is not None
    journal_table["path"] = str(journal if journal is not None else workdir / "journal.jsonl")
    tables["journal"] = journal_table
    tables["logging"] = {"level": "info", "format": "json"}
    tables["webhooks"] = [
        {"service": SERVICE, "pattern": ">", "url": url, "policy": policy},
    ]
    return tables


def _value(value: Any) -> str:
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float) and value != value:
        raise ConfigError("a daemon config value is NaN, which TOML cannot hold")
    return msgspec.json.encode(value).decode()


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else msgspec.json.encode(key).decode()


def to_toml(tables: dict[str, Any]) -> str:
    """TOML text of ``tables``: top-level scalars, tables, and arrays of tables."""
    head: list[str] = []
    body: list[str] = []
    for name, value in tables.items():
        if isinstance(value, dict):
            body.append(f"\n[{_key(name)}]")
            body += [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                body.append(f"\n[[{_key(name)}]]")
                body += [f"{_key(k)} = {_value(v)}" for k, v in item.items() if v is not None]
        elif value is not None:
            head.append(f"{_key(name)} = {_value(value)}")
    return "\n".join(head + body) + "\n"


def write_case_config(tables: dict[str, Any], path: Path) -> Path:
    """Write ``tables`` as TOML to ``path``, checking it reads back as the same tables."""
    text = to_toml(tables)
    if tomllib.loads(text) != tables:
        raise ConfigError(f"{path}: the generated daemon config does not read back as written")
    path.write_text(text)
    return path
