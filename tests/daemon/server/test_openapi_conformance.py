"""The OpenAPI document tells the truth: schemathesis finds nothing against a live daemon.

``schemathesis run --checks all`` (a dev dependency) against a daemon subprocess,
seeded, bounded in examples: every schema-valid request is accepted, every
schema-violating one refused, every status and body documented. Auth is on, with
one token allowed everything that the fuzzer sends: the document declares bearer
security, so with auth off every request without a token would count as accepted
wrongly (and schemathesis checks the 401 without one). Two facts an
HTTP fuzzer cannot know are stated in its configuration: ``GET /v1/subscribe``
succeeds with ``101 Switching Protocols`` (a WebSocket), and a batch above
``max_batch`` is refused with 413; ``--request-retries 1`` because the fuzzer's
client may reuse a connection the daemon upgraded to a WebSocket.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.daemon.server.support import start_daemon, stop

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
#: The fuzzer's bearer token (a test fixture, not a secret), allowed everything.
TOKEN = "schemathesis-fuzzer-token"

CONFIG = """
[server]
host = "127.0.0.1"
port = 0

[lifecycle]
dead_letter_journal = "{tmp}/dead.jsonl"

[auth]
enabled = true
[[auth.tokens]]
name = "fuzzer"
sha256 = "{digest}"
publish = [">"]
subscribe = [">"]
monitor = true

[logging]
format = "json"
level = "warning"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
# Room for every batch the fuzzer sends (up to max_batch, 10,000 events each): a 503
# (overloaded) is a server error to schemathesis, documented or not.
policy = {{ mailbox = 1000000 }}
"""

SCHEMATHESIS_CONFIG = """
[[operations]]
include-name = "GET /v1/subscribe"
checks.not_a_server_error.expected-statuses = ["101", "2xx", "3xx", "4xx"]
checks.positive_data_acceptance.expected-statuses = ["101"]

[[operations]]
include-name = "POST /v1/events:batch"
checks.negative_data_rejection.expected-statuses = ["400", "413", "415", "422"]
"""


@pytest.mark.timeout(150)
@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis (a dev dependency) missing")
def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    """Every check of schemathesis passes on every operation (seed 1, 25 examples each)."""
    config = tmp_path / "daemon.toml"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    config.write_text(CONFIG.format(tmp=tmp_path, digest=digest))
    (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
    proc, base = start_daemon(config)
    try:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(tmp_path / "schemathesis.toml"),
                "run",
                f"{base}/openapi.json",
                "--checks",
                "all",
                "--seed",
                "1",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--no-shrink",
                "--request-retries",
                "1",
                "--header",
                f"Authorization: Bearer {TOKEN}",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop(proc)
    (tmp_path / "schemathesis.log").write_text(run.stdout + run.stderr)
    summary = run.stdout[run.stdout.find("SUMMARY") :]
    assert (run.returncode, "No issues found" in run.stdout) == (0, True), summary
