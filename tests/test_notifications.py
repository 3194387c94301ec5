from webapp.notifications.models import Notification, NotificationType
from webapp.notifications.services import notify


def test_notify_is_idempotent_per_dedupe_key(make):
    user = make.user()
    first = notify(type=NotificationType.TICKET_REPLIED, dedupe_key="ticket-reply:m1", subject="Reply", body="Hi",
                   user=user)
    again = notify(type=NotificationType.TICKET_REPLIED, dedupe_key="ticket-reply:m1", subject="Other", body="x",
                   user=user)
    assert first.id == again.id and again.subject == "Reply" and again.recipient == user.email
    from webapp.extensions import db

    assert db.session.query(Notification).count() == 1
