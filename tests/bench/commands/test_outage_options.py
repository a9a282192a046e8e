"""--outage SERVICE:START:DURATION: parsed, checked against the profile, refused clearly."""

from __future__ import annotations

import argparse

import pytest

from bench.cli import main
from bench.commands.options import parse_outage
from bench.schema import Outage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("datastore:2:1.5", Outage("datastore", 2.0, 1.5)),
        ("mcp-gateway:0s:3s", Outage("mcp-gateway", 0.0, 3.0)),
    ],
)
def test_outages_parse(text: str, expected: Outage) -> None:
    """SERVICE:START:DURATION in seconds, an 's' suffix allowed."""
    assert expected == parse_outage(text)


@pytest.mark.parametrize("text", ["datastore", "datastore:2", ":1:1", "datastore:x:1",
                                  "datastore:-1:1", "datastore:1:0"])  # fmt: skip
def test_bad_outages_are_usage_errors(text: str) -> None:
    """A malformed outage is an argparse error (exit 2) quoting the input."""
    with pytest.raises(argparse.ArgumentTypeError, match=text.split(":")[0] or "SERVICE"):
        parse_outage(text)


def test_an_outage_of_an_unknown_service_is_refused_before_any_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """compare names the profile's services when --outage names another (exit 2)."""
    code = main(["compare", "--profile", "light", "--outage", "nosuch:1:1"])
    err = capsys.readouterr().err
    assert (code, "has no service 'nosuch' (it has datastore, inference, audit)" in err) == (
        2,
        True,
    )


def test_an_outage_after_the_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """An outage starting after the run's end would never happen: refused (exit 2)."""
    code = main(["run", "--arch", "null", "--profile", "light", "--duration", "1",
                 "--outage", "datastore:5:1"])  # fmt: skip
    assert (code, "after the run's 1 s" in capsys.readouterr().err) == (2, True)
