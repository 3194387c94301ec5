"""Small row builders for the dashboard and customer 360 tests (rows the factories do not cover)."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import event

from webapp.billing import ledger
from webapp.billing.coupon_models import Coupon, CouponRedemption, CouponType
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.db import utcnow
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.support.models import Ticket, TicketStatus

_n = itertools.count(1)


def tx(user, amount: int, type_: TransactionType = TransactionType.TOP_UP, *, at: datetime | None = None,
       status: TransactionStatus = TransactionStatus.COMPLETED, subscription=None) -> Transaction:
    at = at or utcnow() - timedelta(seconds=5)
    row = Transaction(custom_id=ledger.next_transaction_custom_id(), user_id=user.id, type=type_, status=status,
                      amount=amount, balance_before=0, balance_after=0, description=f"{type_.value} for tests",
                      subscription_id=subscription.id if subscription is not None else None, created_at=at,
                      completed_at=at if status == TransactionStatus.COMPLETED else None)
    db.session.add(row)
    db.session.flush()
    return row


def instance(subscription, status: InstanceStatus = InstanceStatus.RUNNING, **kw) -> ServiceInstance:
    n = next(_n)
    row = ServiceInstance(subscription_id=subscription.id, name=f"dash-app-{n}", subdomain=f"dash-app-{n}.apps.test",
                          namespace=f"customer-{n}", status=status, **kw)
    db.session.add(row)
    db.session.flush()
    return row


def ticket(user, status: TicketStatus = TicketStatus.OPEN, *, waiting_for: timedelta | None = timedelta(hours=1),
           subject: str | None = None) -> Ticket:
    n = next(_n)
    row = Ticket(ticket_number=900_000 + n, subject=subject or f"Help needed {n}", description="Something broke",
                 status=status, user_id=user.id,
                 waiting_since=None if waiting_for is None else utcnow() - waiting_for)
    db.session.add(row)
    db.session.flush()
    if waiting_for is None:  # the column's default fills in an explicit None on insert
        row.waiting_since = None
        db.session.flush()
    return row


def notification(user, subject: str = "Your renewal worked") -> Notification:
    row = Notification(type=NotificationType.RENEWAL_SUCCESS, user_id=user.id, dedupe_key=f"dash-test-{next(_n)}",
                       recipient=user.email, subject=subject, body="Body of the notification")
    db.session.add(row)
    db.session.flush()
    return row


def redemption(user, code: str | None = None, amount: int = 25_000) -> CouponRedemption:
    coupon = Coupon(code=code or f"DASH{next(_n)}", name="Dashboard coupon", type=CouponType.CREDIT_TOPUP,
                    credit_amount=amount, max_uses=10, used_count=1, created_by="tests")
    db.session.add(coupon)
    db.session.flush()
    row = CouponRedemption(coupon_id=coupon.id, user_id=user.id, redemption_type=CouponType.CREDIT_TOPUP,
                           credit_amount=amount)
    db.session.add(row)
    db.session.flush()
    return row


@contextmanager
def count_queries():
    """Counts the SQL statements sent to the database inside the block (`with count_queries() as n: ...; n[0]`)."""
    engine = db.session.get_bind().engine
    seen = [0]

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
