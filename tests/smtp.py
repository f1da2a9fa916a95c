"""A real SMTP server for tests (aiosmtpd, in a thread of the test process), and the
settings that point Django's SMTP backend at it."""

import email
import email.policy
import queue
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from django.test import override_settings


@dataclass
class Mailbox:
    """What the server received, one parsed message at a time."""

    host: str
    port: int
    received: queue.Queue = field(default_factory=queue.Queue)

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.received.put(message)
        return "250 Message accepted for delivery"

    def next_message(self, timeout: float = 10) -> EmailMessage:
        return self.received.get(timeout=timeout)

    def empty(self) -> bool:
        return self.received.empty()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 and a free port, with Django sending through it."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST=mailbox.host,
            EMAIL_PORT=mailbox.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=10,
        ):
            yield mailbox
    finally:
        controller.stop()


LINK = re.compile(r"https?://\S+/accounts/reset/\S+/\S+/")


def reset_link(message: EmailMessage) -> str:
    """The password-reset link of a received message."""
    (link,) = LINK.findall(message.get_content())
    return link
