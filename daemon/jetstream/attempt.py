"""One delivery attempt of a JetStream message, with every policy of ``events.Pipeline``.

Why not ``Pipeline.run``: it loops over the attempts in-process, sleeping the
backoff between them, so a crash mid-retry would lose the remaining attempts'
bookkeeping and a long backoff would pin a worker. Here each attempt is one
delivery from the server, and the message's redelivery count
(``num_delivered``) is the attempt number, so the retry state survives a
process and other processes can take the retry:

- success: ack, counted ``delivered``;
- failure (exception or timeout) before the last attempt: NAK with the
  subscription's backoff delay (exponential, full jitter), counted a retry;
  the server redelivers after the delay;
- failure on the last attempt, ``Permanent``, or an open breaker with
  ``on_open = "dead_letter"``: the message is written to the dead-letter stream
  with the reason, then terminated (AckTerm), counted ``dead_lettered(reason)``;
- an open breaker with ``on_open = "wait"``: the worker waits for it (the lane
  also stops pulling), keeping the message alive with in-progress acks;
- drain gave up on it (cancelled): it is NAK'd without delay, so it is
  redelivered at once to another process (or after a restart): pending, not lost.

The handler timeout, the breaker, the counters and the in-memory dead-letter
mirror are the pipeline's own (``WorkerSlot``/``TimeoutWatchdog``, ``Breaker``,
``Pipeline`` counters), so the three routers share the policies' code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from events.backoff import backoff_delay
from events.delivery import (
    DL_BREAKER_OPEN,
    DL_FAILED,
    DL_PERMANENT,
    DL_TIMEOUT,
    Pipeline,
    WorkerSlot,
)
from events.errors import HandlerTimeout, Permanent
from events.model import Event

log = logging.getLogger(__name__)

#: An ack subject without a domain has 9 tokens
#: (``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>``).
_V1_TOKENS = 9
_V1_DELIVERED = 4
_V1_STREAM_SEQ = 5
#: With a domain: ``$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>
#: .<cseq>.<ns>.<pending>[.<random>]`` (nats-py accepts 11 tokens and more).
_V2_MIN_TOKENS = 11
_V2_DELIVERED = 6
_V2_STREAM_SEQ = 7
_ACK_PREFIX0 = "$JS"
_ACK_PREFIX1 = "ACK"
#: Longest dead-letter error text kept in a header.
ERROR_HEADER_MAX = 256
#: Delay before a message whose dead letter could not be written is tried again.
DEAD_LETTER_RETRY_S = 1.0


class Transport:
    """What attempts share: the JetStream context, the dead-letter subject and counters."""

    def __init__(self, js: JetStreamContext, dead_letter_prefix: str, timeout_s: float) -> None:
        self.js = js
        self.dead_letter_prefix = dead_letter_prefix
        self.timeout_s = timeout_s
        self.redelivered = 0
        self.naks = 0
        self.terminated = 0
        self.returned = 0
        self.ack_errors = 0
        self.dead_letter_errors = 0
        #: Drain deleted the (ephemeral) streams: nothing will redeliver a message, so
        #: a handler that succeeds after that has delivered it, ack or no ack.
        self.streams_deleted = False

    async def settle(self, msg: Msg, verb: str, delay: float = 0.0) -> bool:
        """Ack, nak (``delay``), term or keep alive ``msg``; False if the connection refused."""
        try:
            if verb == "ack":
                await msg.ack()
            elif verb == "nak":
                await msg.nak(delay=delay or None)
                self.naks += 1
            elif verb == "term":
                await msg.term()
                self.terminated += 1
            else:
                await msg.in_progress()
        except nats.errors.Error as exc:
            if verb == "ack" and self.streams_deleted:
                return True
            # The server redelivers it after ack_wait: pending, not lost.
            self.ack_errors += 1
            log.debug("%s of a message failed: %r", verb, exc)
            return False
        return True

    def ack_failed_nowait(self, msg: Msg, exc: Exception) -> bool:
        """An ack failed: True if it counts as acked anyway (the streams are gone)."""
        if self.streams_deleted:
            return True
        # The server redelivers it after ack_wait: pending, not lost.
        self.ack_errors += 1
        log.debug("ack of %s failed: %r", msg.reply, exc)
        return False

    async def dead_letter(
        self,
        msg: Msg,
        event: Event,
        pipeline: Pipeline,
        reason: str,
        attempts: int,
        error: str,
    ) -> None:
        """Write the dead letter, then terminate the message; on failure retry it later."""
        headers = {
            "Nats-Msg-Id": f"{event.id}:{pipeline.sub.service}",
            "Switchyard-Service": pipeline.sub.service,
            "Switchyard-Reason": reason,
            "Switchyard-Attempts": str(attempts),
            "Switchyard-Error": error[:ERROR_HEADER_MAX],
        }
        subject = f"{self.dead_letter_prefix}.{event.subject}"
        try:
            await self.js.publish(subject, msg.data, timeout=self.timeout_s, headers=headers)
        except (nats.errors.Error, TimeoutError) as exc:
            self.dead_letter_errors += 1
            log.warning("dead letter of %s for %s not written: %r", event.id, headers, exc)
            await self.settle(msg, "nak", DEAD_LETTER_RETRY_S)
            return
        if await self.settle(msg, "term"):
            pipeline.dead_letter_nowait(event, reason, attempts, error)


def delivery_count(msg: Msg) -> int:
    """How many times the server has delivered ``msg`` (1 the first time): its attempt number.

    The token of the ack subject that nats-py's ``Msg.metadata`` reads, without
    building the metadata dataclass and its timestamp (3.6 us per message here),
    paid on every delivery; the common form (no domain) checked inline.
    """
    tokens = msg.reply.split(".")
    if len(tokens) == _V1_TOKENS and tokens[0] == _ACK_PREFIX0 and tokens[1] == _ACK_PREFIX1:
        return int(tokens[_V1_DELIVERED])
    return int(_with_domain(tokens)[_V2_DELIVERED])


def stream_sequence(msg: Msg) -> int:
    """The stream sequence ``msg`` is stored at (from its ack subject, like ``delivery_count``)."""
    tokens = msg.reply.split(".")
    if len(tokens) == _V1_TOKENS and tokens[0] == _ACK_PREFIX0 and tokens[1] == _ACK_PREFIX1:
        return int(tokens[_V1_STREAM_SEQ])
    return int(_with_domain(tokens)[_V2_STREAM_SEQ])


def _with_domain(tokens: list[str]) -> list[str]:
    """``tokens`` if they are an ack subject with a domain (11 tokens and more, as
    ``Msg.metadata`` accepts); raise ``NotJSMessageError`` otherwise."""
    if len(tokens) >= _V2_MIN_TOKENS and tokens[0] == _ACK_PREFIX0 and tokens[1] == _ACK_PREFIX1:
        return tokens
    raise nats.errors.NotJSMessageError


def succeeded_nowait(pipeline: Pipeline, msg: Msg, slot: WorkerSlot, transport: Transport) -> None:
    """A first attempt the worker ran inline (breaker closed) returned: what
    :func:`run_attempt` does on success before the ack (the worker acks and counts)."""
    slot.deadline = 0.0
    if slot.timed_out:
        _forgive_timeout(slot)  # it swallowed our cancellation and finished: it counts
    # Not the deferred ``closed_successes``: that count is also ``pipeline.delivered``
    # (events.delivery), and here a delivery counts only once its ack went out.
    pipeline.breaker.on_success()
    if delivery_count(msg) > 1:
        transport.redelivered += 1


async def run_attempt(
    pipeline: Pipeline,
    msg: Msg,
    event: Event,
    slot: WorkerSlot,
    transport: Transport,
    first: Awaitable[None] | None = None,
) -> None:
    """Take one delivery of ``msg`` through breaker, handler and timeout; settle it once.

    ``first`` is an attempt the worker already ran (admitted by a closed breaker) and
    that failed (``events.delivery.failed_attempt``): it is judged here instead of a
    new handler call.
    """
    sub = pipeline.sub
    breaker = pipeline.breaker
    attempt = delivery_count(msg)
    if attempt > 1:
        transport.redelivered += 1
    try:
        alive_at = 0.0
        while first is None and breaker.state != "closed" and not breaker.allow():
            if not alive_at:
                alive_at = time.monotonic()
            if sub.breaker.on_open == "dead_letter":
                await transport.dead_letter(
                    msg, event, pipeline, DL_BREAKER_OPEN, attempt - 1, "breaker open"
                )
                return
            if time.monotonic() - alive_at >= sub.breaker.open_s:
                await transport.settle(msg, "progress")
                alive_at = time.monotonic()
            await asyncio.sleep(breaker.retry_after())
        error: BaseException
        try:
            if first is None:
                slot.deadline = pipeline.clock() + pipeline.timeout_s
                await pipeline.handler(event)
            else:
                await first
        except asyncio.CancelledError as exc:
            slot.deadline = 0.0
            if slot.timed_out:
                _forgive_timeout(slot)
                error = HandlerTimeout(f"handler ran past {sub.timeout_s}s")
            else:
                task = slot.task or asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # drain gave up on this worker
                error = exc  # the handler raised it itself: a failed attempt
        except Permanent as exc:
            slot.deadline = 0.0
            breaker.on_failure()
            await transport.dead_letter(msg, event, pipeline, DL_PERMANENT, attempt, repr(exc))
            return
        except Exception as exc:
            slot.deadline = 0.0
            error = exc
        else:
            slot.deadline = 0.0
            if slot.timed_out:
                _forgive_timeout(slot)  # it swallowed our cancellation and finished: it counts
            breaker.on_success()
            try:
                await msg.ack()  # the path every delivery takes: no ``settle`` dispatch
            except nats.errors.Error as exc:
                if not transport.ack_failed_nowait(msg, exc):
                    return
            pipeline.other_delivered += 1
            return
        breaker.on_failure()
        if attempt < sub.retry.attempts:
            pipeline.retries += 1
            await transport.settle(msg, "nak", backoff_delay(sub.retry, attempt, pipeline.uniform))
            return
        reason = DL_TIMEOUT if isinstance(error, HandlerTimeout) else DL_FAILED
        await transport.dead_letter(msg, event, pipeline, reason, attempt, repr(error))
    except asyncio.CancelledError:
        slot.deadline = 0.0
        if await transport.settle(msg, "nak"):
            transport.returned += 1
        raise


def _forgive_timeout(slot: WorkerSlot) -> None:
    slot.timed_out = False
    if slot.task is not None:
        slot.task.uncancel()
