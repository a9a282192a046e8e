"""The ``[transport]`` table: what ``--check-config`` refuses, and the shipped JetStream config."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.server.cli import EXIT_CONFIG, EXIT_OK, main
from daemon.server.config import load_config
from events.config import CONFIG_DIR

JETSTREAM = '[transport]\nkind = "jetstream"\nurl = "nats://127.0.0.1:4222"\n'


def check(tmp_path: Path, text: str, *extra: str) -> int:
    path = tmp_path / "d.toml"
    path.write_text(text)
    return main(["--config", str(path), *extra])


def test_shipped_jetstream_config_is_valid() -> None:
    """configs/daemon-jetstream.toml loads: the JetStream transport, the same three services."""
    loaded = load_config(CONFIG_DIR / "daemon-jetstream.toml")
    actual = (
        loaded.config.transport.kind,
        loaded.config.transport.jetstream().stream,
        [s.service for s in loaded.subscriptions()],
    )
    assert actual == ("jetstream", "SWITCHYARD", ["datastore", "inference", "audit"])


def test_memory_stays_the_default() -> None:
    """configs/daemon.toml has no [transport] table: the in-process router."""
    assert load_config(CONFIG_DIR / "daemon.toml").config.transport.kind == "memory"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[transport]\nkind = "kafka"\n', "transport.kind"),
        ('[transport]\nkind = "jetstream"\n', "transport.url is required"),
        (JETSTREAM + 'url_typo = "x"\n', "url_typo"),
        (
            '[transport]\nkind = "jetstream"\nurl = "http://127.0.0.1:4222"\n',
            "transport.url",
        ),
        (JETSTREAM + 'stream = "EVENTS.ALL"\n', "transport.stream"),
        (JETSTREAM + "replicas = 0\n", "transport.replicas"),
        (JETSTREAM + "max_bytes = 10\n", "transport.max_bytes"),
        (JETSTREAM + "max_age_s = -1.0\n", "transport.max_age_s"),
        (JETSTREAM + 'credentials = "/nowhere/user.creds"\n', "transport.credentials"),
        (JETSTREAM + 'credentials = "token:"\n', "needs a token"),
        (JETSTREAM + "ack_wait_s = 0.0\n", "transport.ack_wait_s"),
        (JETSTREAM + "[journal]\nenabled = true\n", "the stream is the durable store"),
    ],
)
def test_check_config_names_the_refused_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    """A refused [transport] value exits 2 with a message naming the field."""
    code = check(tmp_path, text, "--check-config")
    assert (code, named in capsys.readouterr().err) == (EXIT_CONFIG, True)


def test_check_config_accepts_a_token_and_a_creds_file(tmp_path: Path) -> None:
    """Credentials as ``token:<t>`` or an existing file path both validate."""
    creds = tmp_path / "user.creds"
    creds.write_text("not read by --check-config\n")
    codes = [
        check(tmp_path, JETSTREAM + 'credentials = "token:s3cret"\n', "--check-config"),
        check(tmp_path, JETSTREAM + f'credentials = "{creds}"\n', "--check-config"),
    ]
    assert codes == [EXIT_OK, EXIT_OK]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "needs [transport] kind = 'jetstream'"),
        ('[transport]\nkind = "jetstream"\nurl = "nats://10.1.2.3:4222"\n', "127.0.0.1 only"),
    ],
)
def test_embedded_nats_needs_a_local_jetstream_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    """--embedded-nats with the memory transport, or a remote URL, exits 2 before starting."""
    code = check(tmp_path, text, "--embedded-nats")
    assert (code, named in capsys.readouterr().err) == (EXIT_CONFIG, True)
