"""Imports every domain's models so that SQLAlchemy's metadata (and Alembic) sees the whole schema."""
from .accounts.models import RefreshToken, Role, User  # noqa: F401
from .billing.models import Transaction, TransactionStatus, TransactionType  # noqa: F401
from .catalog.models import PlanType, Service, ServiceCategory, ServicePlan  # noqa: F401
from .cluster.models import InstanceStatus, ServiceInstance  # noqa: F401
from .subscriptions.models import LIVE_STATUSES, Subscription, SubscriptionStatus  # noqa: F401
from .audit.models import AuditEntry  # noqa: F401
from .notifications.models import Notification, NotificationStatus, NotificationType  # noqa: F401
from .billing.models import TransactionNumber  # noqa: F401
from .outbox import OutboxJob  # noqa: F401
from .support.models import Ticket, TicketAttachment, TicketMessage, TicketStatus  # noqa: F401
from .billing.coupon_models import Coupon, CouponRedemption  # noqa: F401
