"""`manage.py outbox_worker`: deliver events that are due (retries and orphans), and
run the payment reconciler every few seconds, and prune history every few minutes
(`vodstore.retention`: finished events past their retention, expired idempotency
keys), a slice at a time between passes. It outlives database and Redis outages:
a failed pass is logged, the connections are dropped, and it tries again after a
backoff, then drains what piled up.

In broker mode (`EVENT_BROKER_URL`) it is the relay: it publishes the outbox to
RabbitMQ (and sends failed apps' retries to their queues) instead of running handlers,
and outlives broker outages the same way."""

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections

from vodstore import events, retention
from vodstore.broker import Relay, is_broker_error
from vodstore.outage import is_outage

logger = logging.getLogger(__name__)

MIN_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 0.5, 30.0
# The broker back after an outage: reconnecting is cheap, and every second of backoff
# is a second of delay for every event that piled up.
MAX_BROKER_BACKOFF_SECONDS = 2.0
# Pruning waits this long after start, so that events which piled up while no worker ran
# go out first; then each pass prunes for at most a slice, so delivery never waits on a
# long clean-up (one that is not through goes on at the next pass).
PRUNE_START_DELAY_SECONDS = 30.0
PRUNE_SLICE_SECONDS = 1.0


def pause(stop: threading.Event, seconds: float) -> None:
    """Wait between passes; a SIGTERM ends the wait at once."""
    stop.wait(seconds)


class Command(BaseCommand):
    help = (
        "Deliver pending outbox events whose time has come: failed handlers after their "
        "backoff, and events a crashed process never dispatched; reconcile payments left "
        "in doubt. Safe to run several."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--until-idle",
            action="store_true",
            help="pass until no event is due and nothing is left to reconcile, then exit",
        )
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
        parser.add_argument("--batch", type=int, default=100)
        parser.add_argument(
            "--reconcile-every",
            type=float,
            default=settings.PAYMENT_RECONCILE_EVERY_SECONDS,
            help="seconds between payment reconciliations (0: never)",
        )
        parser.add_argument(
            "--prune-every",
            type=float,
            default=settings.OUTBOX_RETENTION_EVERY_SECONDS,
            help="seconds between history prunings, as manage.py prune_history does (0: never)",
        )

    def handle(
        self, *args, once, until_idle, interval, batch, reconcile_every, prune_every, **options
    ):
        stop = threading.Event()  # SIGTERM (a deploy, `docker stop`): end the pass, then exit
        previous = {
            signum: signal.signal(signum, lambda *_: stop.set())
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        relay = Relay() if events.broker_mode() else None
        if relay is not None:
            self.stdout.write("broker mode: relaying the outbox to the broker")
        try:
            self._loop(stop, relay, once, until_idle, interval, batch, reconcile_every, prune_every)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if relay is not None:
                relay.close()

    def _loop(
        self, stop, relay, once, until_idle, interval, batch, reconcile_every, prune_every
    ) -> None:
        from payment.services import payments_reconcile  # the worker runs payment's job

        backoff = max(interval, MIN_BACKOFF_SECONDS)
        next_reconcile = time.monotonic()
        pruning = Pruning(self, prune_every)
        while not stop.is_set():
            try:
                close_old_connections()
                if relay is None:
                    claimed, delivered = events.run_worker_pass(batch=batch)
                    if claimed:
                        self.stdout.write(f"claimed {claimed} event(s), delivered {delivered}")
                else:
                    claimed, published = relay.publish_due(batch=batch)
                    retried = relay.retry_due(batch=batch)
                    if claimed or retried:
                        self.stdout.write(
                            f"claimed {claimed} event(s), published {published}, "
                            f"sent {retried} retries"
                        )
                    claimed += retried
                reconciled = 0
                if reconcile_every and (until_idle or time.monotonic() >= next_reconcile):
                    done = payments_reconcile()
                    reconciled = sum(done.values())
                    if reconciled:
                        self.stdout.write(f"reconciled {dict(done)}")
                    next_reconcile = time.monotonic() + reconcile_every
                pruning.run_if_due()
                backoff = max(interval, MIN_BACKOFF_SECONDS)
            except Exception as exc:
                # The database, Redis or the broker is down (or a bug): never die of it.
                if is_outage(exc) or (relay is not None and is_broker_error(exc)):
                    logger.warning("outbox worker: %r; retrying in %.1f s", exc, backoff)
                else:
                    logger.exception("outbox worker: pass failed; retrying in %.1f s", backoff)
                for connection in connections.all():
                    connection.close_if_unusable_or_obsolete()
                    connection.close()
                pause(stop, backoff)
                cap = MAX_BROKER_BACKOFF_SECONDS if is_broker_error(exc) else MAX_BACKOFF_SECONDS
                backoff = min(backoff * 2, cap)
                continue
            if once or (until_idle and not claimed and not reconciled):
                return
            if claimed < batch and not until_idle:
                pause(stop, interval)


class Pruning:
    """The worker's share of history retention: every `every` seconds (the first time
    `PRUNE_START_DELAY_SECONDS` after start), expired idempotency keys are forgotten and
    finished events deleted for at most `PRUNE_SLICE_SECONDS`; a clean-up that is not
    through goes on at the next pass. A failure of its own is logged and tried again at
    the next period, so it never holds up delivery; an outage is the loop's to handle."""

    def __init__(self, command: BaseCommand, every: float) -> None:
        self.command = command
        self.every = every
        self.due = time.monotonic() + min(PRUNE_START_DELAY_SECONDS, every)
        self.going_on = False  # a run cut short by its slice, to be finished first

    def run_if_due(self) -> None:
        if not self.every or time.monotonic() < self.due:
            return
        try:
            pruned = retention.history_prune(
                deadline=time.monotonic() + PRUNE_SLICE_SECONDS,
                idempotency_keys=not self.going_on,
            )
        except Exception as exc:
            if is_outage(exc):
                raise
            logger.exception("outbox worker: pruning history failed; trying again later")
            self.going_on = False
            self.due = time.monotonic() + self.every
            return
        if pruned.anything:
            self.command.stdout.write(pruned.summary())
        self.going_on = not pruned.finished
        self.due = time.monotonic() + (0 if self.going_on else self.every)
