"""Webhook subscribers: POST the event as JSON through one pooled client session.

A non-2xx answer raises, so the shared retry and breaker of ``events.Pipeline``
apply; a 4xx other than 408 and 429 can never succeed on retry and raises
``Permanent`` (dead-lettered at once).
"""

from __future__ import annotations

import aiohttp

from daemon.server.config import WebhookConfig, WebhooksConfig
from daemon.server.metrics import ServerMetrics
from daemon.server.redact import redact
from events.codecs import encode_json
from events.errors import Permanent, SwitchyardError
from events.model import Event

_RETRYABLE_4XX = frozenset({408, 429})


class WebhookFailed(SwitchyardError):
    """Raised by a webhook delivery that got a non-2xx answer or no answer at all."""


class WebhookPool:
    """The single ``aiohttp.ClientSession`` every webhook subscriber shares."""

    def __init__(self, config: WebhooksConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.pool_size),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookHandler:
    """The handler of one webhook subscription."""

    def __init__(self, cfg: WebhookConfig, pool: WebhookPool, metrics: ServerMetrics) -> None:
        self.cfg = cfg
        self.pool = pool
        self.metrics = metrics
        self.headers = {"Content-Type": "application/json", **cfg.headers}
        #: The URL as messages show it: credentials and query values masked.
        self.shown_url = redact(cfg.url)

    async def __call__(self, event: Event) -> None:
        service = self.cfg.service
        try:
            async with self.pool.session().post(
                self.cfg.url, data=encode_json(event), headers=self.headers
            ) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.metrics.count_webhook(service, "error")
            # The client's exception text can repeat the URL, credentials and all.
            raise WebhookFailed(
                f"webhook {service!r} {self.shown_url}: {redact(repr(exc))}"
            ) from None  # the cause would repeat the raw URL in any traceback
        if 200 <= status < 300:
            self.metrics.count_webhook(service, "ok")
            return
        self.metrics.count_webhook(service, str(status))
        message = f"webhook {service!r} {self.shown_url} answered {status}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise Permanent(message)
        raise WebhookFailed(message)
