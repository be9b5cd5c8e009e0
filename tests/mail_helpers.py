"""A real SMTP server on loopback (aiosmtpd) that captures what it accepts, and can be told
to refuse or drop the next messages; plus a runtime wired to it."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CapturingHandler:
    def __init__(self) -> None:
        self.accepted: list[EmailMessage] = []
        self.envelopes: list = []
        self.refuse_next = 0  # answer DATA with a temporary failure
        self.drop_next = 0  # close the connection instead of answering DATA

    async def handle_DATA(self, server, session, envelope):
        if self.drop_next:
            self.drop_next -= 1
            server.transport.close()
            return "421 4.4.2 connection dropped"
        if self.refuse_next:
            self.refuse_next -= 1
            return "451 4.3.0 Try again later"
        self.envelopes.append(envelope)
        self.accepted.append(message_from_bytes(envelope.original_content, policy=default))
        return "250 2.0.0 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.handler = CapturingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[EmailMessage]:
        return self.handler.accepted

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()
