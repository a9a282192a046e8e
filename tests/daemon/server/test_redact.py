"""Secrets in URLs are masked wherever a URL is shown (daemon/server/redact.py)."""

from __future__ import annotations

import pytest

from daemon.server.http.access_log import redacted_target
from daemon.server.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://host:80/hook", "http://host:80/hook"),
        ("https://user:pw@host/hook", "https://***@host/hook"),
        ("https://TOKEN@host/", "https://***@host/"),
        ("http://h/p?token=abc&x=1", "http://h/p?token=***&x=***"),
        ("http://h/p?flag", "http://h/p?***"),
        ("http://u:p@h:9/p?k=v#frag", "http://***@h:9/p?k=***#***"),
        ("http://h?k=v", "http://h?k=***"),
        (
            "webhook 'n' http://a:b@h/x?t=1 answered 500",
            "webhook 'n' http://***@h/x?t=*** answered 500",
        ),
        (
            "ClientConnectorError(host='h', url='http://u:p@h/?k=v')",
            "ClientConnectorError(host='h', url='http://***@h/?k=***')",
        ),
        ("no url here: user:pw@host", "no url here: user:pw@host"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    """User info, query values and fragments are masked; keys, hosts and paths stay."""
    assert expected == redact(text)


def test_access_log_target_masks_query_values() -> None:
    """A request target keeps its path and query keys, never the values."""
    assert (
        redacted_target("/v1/subscribe?pattern=fs.>&token=abc"),
        redacted_target("/healthz"),
    ) == ("/v1/subscribe?pattern=***&token=***", "/healthz")
