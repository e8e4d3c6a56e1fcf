"""The email channel: HTML and plain text (EmailMultiAlternatives) through Django's mail backend.

The text is the Delivery's, already filtered for who may read it (incidents.notifications); this
module only renders and sends. SMTP refusals of the whole message for now (connection refused,
timeouts, 4xx answers, a dropped connection) are transient: mail servers come back. A rejected
address or a 5xx answer is permanent.
"""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from incidents.channels.base import DeliveryError, Message, register


def preferences_url() -> str:
    return f"{settings.FAILSAFE_BASE_URL.rstrip('/')}/accounts/notifications/"


class EmailChannel:
    name = "email"

    def render(self, *, address: str, message: Message, idempotency_key: str) -> EmailMultiAlternatives:
        context = {
            "message": message,
            "paragraphs": [p for p in message.text.split("\n\n") if p.strip()],
            "preferences_url": preferences_url(),
        }
        email = EmailMultiAlternatives(
            subject=f"[Failsafe] {message.subject}",
            body=render_to_string("incidents/email/notification.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            # Mail systems drop a repeated Message-ID: a retry after a lost answer is not a second email.
            headers={
                "Message-ID": f"<{idempotency_key}@failsafe>",
                "X-Failsafe-Event": message.event,
                **({"X-Failsafe-Incident": message.incident_ref} if message.incident_ref else {}),
            },
        )
        email.attach_alternative(render_to_string("incidents/email/notification.html", context), "text/html")
        return email

    def send(self, *, address: str, message: Message, idempotency_key: str) -> None:
        email = self.render(address=address, message=message, idempotency_key=idempotency_key)
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"address refused: {_codes(exc.recipients)}", transient=_all_temporary(exc)) from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, connect refused by the server
            reason = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"SMTP {exc.smtp_code}: {reason}", transient=exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, disconnected
            raise DeliveryError(f"mail server unavailable: {type(exc).__name__}: {exc}", transient=True) from exc


def _codes(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{to}: {code} {reply.decode(errors='replace')}" for to, (code, reply) in recipients.items())


def _all_temporary(exc: smtplib.SMTPRecipientsRefused) -> bool:
    return all(400 <= code < 500 for code, _ in exc.recipients.values())


channel = register(EmailChannel())
