"""Every exception the shared contract raises, each saying when it is raised."""

from __future__ import annotations


class SwitchyardError(Exception):
    """Base class of every error this project raises on purpose."""


class Permanent(SwitchyardError):
    """Raised by a handler to say the event can never succeed.

    A router dead-letters the delivery at once, with reason ``permanent``,
    instead of retrying it.
    """


class HandlerTimeout(SwitchyardError):
    """Recorded as a delivery attempt's error when the handler ran past ``timeout_s``."""


class InvalidSubject(SwitchyardError, ValueError):
    """Raised when a subject or a subscription pattern breaks the subject grammar.

    ``rule`` names the rule broken (``events.subjects.RULE_*``), for answers and tests.
    """

    def __init__(self, message: str, rule: str = "") -> None:
        super().__init__(message)
        self.rule = rule


class ConfigError(SwitchyardError, ValueError):
    """Raised when a configuration file or table is missing, malformed or invalid.

    The message names the file and the offending field.
    """


class AccountingError(SwitchyardError):
    """Raised when a router's counters break the accounting identity after drain."""
