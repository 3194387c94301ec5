"""Notification delivery: PENDING -> sender -> SENT exactly once; SMTP for real; failures retried then FAILED; no
transaction open during a send; the renewal pass enqueues a delivery job that a worker runs."""
from __future__ import annotations

import socketserver
import threading
from datetime import timedelta

import pytest

from jobs.queue import get_queue, redis_connection, run_burst
from tests.notifications.billing_helpers import instances_stub  # noqa: F401 (fixture)
from webapp import clock
from webapp.extensions import db
from webapp.notifications import delivery
from webapp.notifications.models import Notification, NotificationStatus, NotificationType
from webapp.notifications.services import notify


@pytest.fixture(autouse=True)
def _clean(app, instances_stub):
    redis_connection().flushdb()
    yield
    get_queue().empty()
    redis_connection().flushdb()


def _note(user, key="k:1", subject="Hello"):
    return notify(type=NotificationType.RENEWAL_SUCCESS, dedupe_key=key, subject=subject, body="Body text", user=user)


def _status(row):
    db.session.expire_all()
    return db.session.get(Notification, row.id)


class RecordingSender:
    def __init__(self, fail: Exception | None = None):
        self.sent, self.fail, self.in_transaction = [], fail, []

    def send(self, notification, recipient):
        self.in_transaction.append(db.session().in_transaction())
        if self.fail:
            raise self.fail
        self.sent.append((notification.id, recipient))


def test_outbox_sender_marks_sent_once(make):
    user = make.user()
    first, second = _note(user, "k:1"), _note(user, "k:2")
    assert delivery.deliver_pending(sender=delivery.OutboxSender()) == {"processed": 2, "sent": 2, "failed": 0,
                                                                        "skipped": 0}
    for row in (first, second):
        row = _status(row)
        assert row.status == NotificationStatus.SENT and row.sent_at and row.attempts == 1
    assert delivery.deliver_pending(sender=delivery.OutboxSender())["processed"] == 0


def test_the_sender_is_called_outside_any_transaction_and_once(make):
    user = make.user()
    _note(user)
    sender = RecordingSender()
    delivery.deliver_pending(sender=sender)
    delivery.deliver_pending(sender=sender)
    assert len(sender.sent) == 1 and sender.in_transaction == [False]


def test_a_leased_row_is_skipped_by_a_second_deliverer(make):
    row = _note(make.user())
    db.session.flush()
    redis_connection().set(delivery.LEASE_KEY.format(id=row.id), "1", ex=60)  # another worker is sending it
    sender = RecordingSender()
    assert delivery.deliver_pending(sender=sender)["skipped"] == 1
    assert sender.sent == [] and _status(row).status == NotificationStatus.PENDING


def test_failures_are_retried_then_marked_failed(make):
    row = _note(make.user())
    sender = RecordingSender(fail=ConnectionRefusedError("smtp down"))
    for attempt in range(1, delivery.MAX_ATTEMPTS + 1):
        assert delivery.deliver_pending(sender=sender)["failed"] == 1
        current = _status(row)
        assert current.attempts == attempt and "smtp down" in current.last_error
    assert current.status == NotificationStatus.FAILED
    assert delivery.deliver_pending(sender=sender)["processed"] == 0


def test_staff_notifications_go_to_the_staff_address(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFICATION_STAFF_EMAIL", "ops@poddesk.example.com")
    notify(type=NotificationType.ADMIN_BILLING_SUMMARY, dedupe_key="summary:x", subject="Summary", body="b")
    sender = RecordingSender()
    delivery.deliver_pending(sender=sender)
    assert sender.sent[0][1] == "ops@poddesk.example.com"


# ------------------------------------------------------------------------------------------ SMTP
class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 test ESMTP\r\n")
        data, in_data = [], False
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if in_data:
                if line in (b".\r\n", b".\n"):
                    in_data = False
                    self.server.messages.append(b"".join(data).decode())
                    data = []
                    self.wfile.write(b"250 OK\r\n")
                else:
                    data.append(line)
                continue
            command = line.strip().upper()
            if command.startswith(b"EHLO") or command.startswith(b"HELO"):
                self.wfile.write(b"250 test\r\n")
            elif command.startswith(b"DATA"):
                in_data = True
                self.wfile.write(b"354 go\r\n")
            elif command.startswith(b"QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                if command.startswith(b"RCPT"):
                    self.server.recipients.append(line.decode().strip())
                self.wfile.write(b"250 OK\r\n")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages, server.recipients = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_smtp_sender_delivers_a_real_message(make, app, monkeypatch, smtp_server):
    monkeypatch.setitem(app.config, "NOTIFICATION_SENDER", "smtp")
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.server_address[1])
    user = make.user(email="payer@shop.example.com")
    row = _note(user, subject="Ghost Basic renewed")
    assert delivery.deliver_pending()["sent"] == 1
    assert _status(row).status == NotificationStatus.SENT
    [message] = smtp_server.messages
    assert "Subject: Ghost Basic renewed" in message and "Body text" in message and "Message-ID:" in message
    assert [r.upper() for r in smtp_server.recipients] == ["RCPT TO:<PAYER@SHOP.EXAMPLE.COM>"]


def test_smtp_unreachable_keeps_the_row_pending(make, app, monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFICATION_SENDER", "smtp")
    monkeypatch.setitem(app.config, "SMTP_PORT", 1)
    row = _note(make.user())
    assert delivery.deliver_pending()["failed"] == 1
    assert _status(row).status == NotificationStatus.PENDING and _status(row).attempts == 1


# ------------------------------------------------------------------------------ from the renewal pass
def test_the_renewal_pass_enqueues_delivery_and_a_worker_sends_once(app, make):
    from webapp.subscriptions.renewals import process_renewals

    user = make.user(credit_balance=100_000)
    plan = make.plan(monthly_price=30_000, used_quota=1)
    end = clock.now() - timedelta(hours=2)
    sub = make.subscription(user=user, plan=plan, start_date=end - timedelta(days=30), end_date=end,
                            next_billing=end, monthly_price=30_000)
    assert process_renewals()["successful"] == 1
    assert "jobs.notifications.deliver_notifications" in [j.func_name for j in get_queue().jobs]
    run_burst(app)
    [row] = db.session.execute(db.select(Notification).where(Notification.subscription_id == sub.id)).scalars()
    db.session.refresh(row)
    assert row.type == NotificationType.RENEWAL_SUCCESS and row.status == NotificationStatus.SENT
    assert row.data["chargedAmount"] == 30_000 and row.recipient == user.email
