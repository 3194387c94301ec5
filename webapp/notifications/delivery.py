"""Delivering recorded notifications: PENDING rows -> a sender -> SENT (or FAILED after MAX_ATTEMPTS).

Notifications are written in the transaction of the event (`notify`); this module runs later, in a job
(`jobs.notifications.deliver_notifications`), and never holds a database transaction across the network call:
1. read a page of PENDING ids (short read, then the transaction ends);
2. per row: take a Redis lease (SET NX EX) so a concurrent deliverer skips it, re-read the row, end the
   transaction, send, then mark it SENT with a conditional UPDATE (`WHERE status = 'PENDING'`) and commit.
A crash between the send and the mark sends that one message again on the next run (at-least-once, which is the
best SMTP allows); the lease and the conditional update make a double send by two live workers impossible.

Senders (`NOTIFICATION_SENDER`): `smtp` (the `SMTP_*` settings) or `outbox`, which sends nothing and only marks
the row SENT: tests and `make run` read the messages on the console's Outbox page.
"""
from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app
from sqlalchemy import select, update

from ..db import utcnow
from ..extensions import db
from .models import Notification, NotificationStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE_SECONDS = 300
LEASE_KEY = "poddesk:notification-lease:{id}"


class DeliveryError(Exception):
    pass


class OutboxSender:
    """Sends nothing: the row itself (console Outbox page) is the delivered message."""

    name = "outbox"

    def send(self, notification: Notification, recipient: str | None) -> None:
        return None


class SmtpSender:
    name = "smtp"

    def __init__(self, config):
        self.host = config.get("SMTP_HOST") or "127.0.0.1"
        self.port = int(config.get("SMTP_PORT") or 25)
        self.username = config.get("SMTP_USERNAME")
        self.password = config.get("SMTP_PASSWORD")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        self.sender = config.get("SMTP_FROM") or "PodDesk <no-reply@poddesk.local>"
        self.timeout = float(config.get("SMTP_TIMEOUT") or 10)

    def message(self, notification: Notification, recipient: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = recipient
        message["Subject"] = notification.subject
        # A stable Message-ID: a re-send after a crash is recognisable as the same message.
        message["Message-ID"] = make_msgid(idstring=notification.id, domain="poddesk.local")
        message.set_content(notification.body)
        return message

    def send(self, notification: Notification, recipient: str | None) -> None:
        if not recipient:
            raise DeliveryError("No recipient address")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(self.message(notification, recipient))


def get_sender(config=None):
    config = config if config is not None else current_app.config
    name = str(config.get("NOTIFICATION_SENDER") or "smtp").lower()
    if name == "outbox":
        return OutboxSender()
    if name == "smtp":
        return SmtpSender(config)
    raise DeliveryError(f"Unknown NOTIFICATION_SENDER {name!r}")


def _recipient(notification: Notification) -> str | None:
    if notification.recipient:
        return notification.recipient
    if notification.user_id is None:
        return current_app.config.get("NOTIFICATION_STAFF_EMAIL")
    return None


def deliver_pending(*, limit: int = 200, sender=None) -> dict:
    """Send up to `limit` PENDING notifications, oldest first. Returns {processed, sent, failed, skipped}."""
    from jobs.queue import redis_connection

    sender = sender or get_sender()
    ids = db.session.execute(select(Notification.id).where(Notification.status == NotificationStatus.PENDING)
                             .order_by(Notification.created_at, Notification.id).limit(limit)).scalars().all()
    db.session.commit()  # end the read transaction before any network call
    redis = redis_connection()
    counts = {"processed": 0, "sent": 0, "failed": 0, "skipped": 0}
    for notification_id in ids:
        lease = LEASE_KEY.format(id=notification_id)
        if not redis.set(lease, "1", nx=True, ex=LEASE_SECONDS):
            counts["skipped"] += 1
            continue
        try:
            counts["processed"] += 1
            outcome = _deliver_one(notification_id, sender)
            counts[outcome] += 1
        finally:
            redis.delete(lease)
    return counts


def _deliver_one(notification_id: str, sender) -> str:
    row = db.session.get(Notification, notification_id, populate_existing=True)
    if row is None or row.status != NotificationStatus.PENDING:
        db.session.commit()
        return "skipped"
    recipient = _recipient(row)
    db.session.expunge(row)
    db.session.commit()  # no transaction is open while the sender talks to the network
    try:
        sender.send(row, recipient)
    except Exception as exc:  # noqa: BLE001 - any sender failure is recorded on the row and retried later
        log.warning("notification %s not delivered: %s", notification_id, exc)
        attempts = (row.attempts or 0) + 1
        db.session.execute(update(Notification).where(Notification.id == notification_id,
                                                      Notification.status == NotificationStatus.PENDING)
                           .values(attempts=Notification.attempts + 1, last_error=str(exc)[:2000],
                                   status=NotificationStatus.FAILED if attempts >= MAX_ATTEMPTS
                                   else NotificationStatus.PENDING, updated_at=utcnow()))
        db.session.commit()
        return "failed"
    changed = db.session.execute(update(Notification).where(Notification.id == notification_id,
                                                            Notification.status == NotificationStatus.PENDING)
                                 .values(status=NotificationStatus.SENT, sent_at=utcnow(), last_error=None,
                                         attempts=Notification.attempts + 1, recipient=recipient,
                                         updated_at=utcnow())).rowcount
    db.session.commit()
    return "sent" if changed else "skipped"


def schedule_delivery() -> None:
    """Enqueue one delivery run after the current transaction commits (through the job outbox)."""
    from ..outbox import enqueue

    enqueue("jobs.notifications.deliver_notifications")
