"""A local SMTP server for tests and the notification benchmark (aiosmtpd, a development dependency).

It records every message it accepts, refuses the recipients it is told to (550: a permanent
error), and can be stopped and started again on the same port (a mail server going down and
coming back). Not used by the application itself.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalSmtp:
    port: int = field(default_factory=free_port)
    refuse: set[str] = field(default_factory=set)
    messages: list[Message] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: object = None

    def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def start(self) -> LocalSmtp:
        from aiosmtpd.controller import Controller

        handler = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
                return handler.handle_RCPT(server, session, envelope, address, rcpt_options)

            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                return await handler.handle_DATA(server, session, envelope)

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.messages)
