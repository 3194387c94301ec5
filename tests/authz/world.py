"""The rows the authorization matrix points its URLs at: customer A owns one of everything, customer B owns his own
copies (so B is a real customer with data, not an empty account), and the administrator has the catalog and staff
objects. `World.value(key)` turns a matrix key ("a.subscription", "plan", ...) into the id/slug put in a URL.

Every object of A carries a marker string in a field the pages render (subject, name, description): a response to
B or to an anonymous visitor containing one of them has leaked A's data.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import timedelta

from webapp.billing import ledger
from webapp.billing.coupon_models import Coupon, CouponStatus, CouponType
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.cluster.models import InstanceStatus, ServiceInstance
from webapp.db import utcnow
from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.support import services as support
from webapp.support.uploads import RawUpload, UploadLimits, verify_uploads

from ..support.images import png

A_MARKERS = ("AZ-SECRET-SUBJECT", "AZ-SECRET-DESCRIPTION", "az-secret-app", "AZ-SECRET-REPLY")


@dataclass
class Owned:
    """One customer's objects."""

    user: object
    subscription: object
    instance: object
    ticket: object
    attachment: object  # on the ticket itself
    reply_attachment: object  # on a staff reply (reached through the message, not the ticket)
    topup: object  # a PENDING Midtrans top-up (cancellable)
    charge: object  # a COMPLETED ledger row


@dataclass
class World:
    admin: object
    a: Owned
    b: Owned
    category: object
    service: object
    plan: object
    plan2: object  # a higher plan of the same service (upgrade target)
    coupon: object
    notification: object
    audit: object
    run_id: str
    extra: dict = field(default_factory=dict)

    def value(self, key: str) -> str:
        """`a.subscription` -> A's subscription id; `category.slug` -> the slug; `plan` -> the plan id."""
        obj: object = self
        parts = key.split(".")
        for part in parts:
            obj = getattr(obj, part)
        if isinstance(obj, str):
            return obj
        return obj.id

    def model_refs(self) -> dict[type, str]:
        """Model class -> the world key of one row of it, for Flask-Admin's `?id=` (A's row where A has one)."""
        keys = ["a.user", "a.subscription", "a.instance", "a.ticket", "a.charge", "category", "service", "plan",
                "coupon", "notification", "audit"]
        refs: dict[type, str] = {}
        for key in keys:
            obj: object = self
            for part in key.split("."):
                obj = getattr(obj, part)
            refs[type(obj)] = key
        return refs


def _image():
    data = png((5, 4))
    return verify_uploads([RawUpload("a-screenshot.png", io.BytesIO(data), len(data))], UploadLimits())


def _owned(make, user, plan, tag: str, staff) -> Owned:
    subscription = make.subscription(user=user, plan=plan)
    instance = ServiceInstance(subscription_id=subscription.id, name=f"{tag}-secret-app",
                               subdomain=f"{tag}-secret-app.apps.test", namespace=f"customer-{user.id[-8:]}",
                               pod_name=f"{tag}-secret-app-pod", deployment_name=f"{tag}-secret-app",
                               status=InstanceStatus.RUNNING)
    db.session.add(instance)
    ticket = support.create_ticket(user=user, subject=f"{tag.upper()}-SECRET-SUBJECT",
                                   description=f"{tag.upper()}-SECRET-DESCRIPTION of the problem", images=_image())
    support.add_customer_message(user=user, ticket_id=ticket.id, content=f"{tag.upper()}-SECRET-REPLY")
    reply = support.add_staff_reply(admin=staff, ticket_id=ticket.id, content="Here is what we see",
                                    images=_image())
    db.session.flush()
    now = utcnow()
    topup = Transaction(custom_id=ledger.next_transaction_custom_id(), user_id=user.id, type=TransactionType.TOP_UP,
                        status=TransactionStatus.PENDING, amount=100_000, balance_before=0, balance_after=0,
                        payment_method="MIDTRANS_BANK_TRANSFER", description=f"{tag} pending top-up",
                        created_at=now)
    charge = Transaction(custom_id=ledger.next_transaction_custom_id(), user_id=user.id,
                         type=TransactionType.SUBSCRIPTION, status=TransactionStatus.COMPLETED, amount=50_000,
                         balance_before=250_000, balance_after=200_000, subscription_id=subscription.id,
                         description=f"{tag} subscription charge", created_at=now - timedelta(minutes=5),
                         completed_at=now - timedelta(minutes=5))
    db.session.add_all([topup, charge])
    db.session.flush()
    return Owned(user=user, subscription=subscription, instance=instance, ticket=ticket,
                 attachment=ticket.attachments[0], reply_attachment=reply.attachments[0], topup=topup,
                 charge=charge)


def build_world(make) -> World:
    from webapp.audit.services import record
    from webapp.catalog.models import PlanType
    from webapp.subscriptions.scheduler import new_run

    admin = make.user(email="authz-admin@example.com", role="ADMINISTRATOR", name="Authz Admin")
    user_a = make.user(email="authz-a@example.com", name="Customer Alpha", credit_balance=200_000)
    user_b = make.user(email="authz-b@example.com", name="Customer Bravo", credit_balance=200_000)
    category = make.category(slug="authz-apps")
    service = make.service(category=category, slug="authz-app", name="Authz App")
    plan = make.plan(service=service)
    plan2 = make.plan(service=service, plan_type=PlanType.PRO, name="Pro", monthly_price=90_000)
    a = _owned(make, user_a, plan, "az", admin)
    b = _owned(make, user_b, plan, "bz", admin)
    coupon = Coupon(code="AUTHZ10K", name="Authz coupon", type=CouponType.CREDIT_TOPUP, credit_amount=10_000,
                    max_uses=10, used_count=0, max_uses_per_user=1, status=CouponStatus.ACTIVE,
                    valid_from=utcnow() - timedelta(days=1), created_by=admin.id)
    notification = Notification(type=NotificationType.RENEWAL_SUCCESS, user_id=user_a.id, dedupe_key="authz-note",
                                recipient=user_a.email, subject="Your renewal worked", body="Renewed")
    db.session.add_all([coupon, notification])
    audit = record(actor=admin, action="user.update", target_type="user", target_id=user_a.id,
                   before={"name": "Old"}, after={"name": user_a.name}, source="console")
    db.session.flush()
    return World(admin=admin, a=a, b=b, category=category, service=service, plan=plan, plan2=plan2, coupon=coupon,
                 notification=notification, audit=audit, run_id=new_run("daily-renewals", source="console"))
