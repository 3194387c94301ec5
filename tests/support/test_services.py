"""Support services below the API: ticket numbers, the file/transaction contract of `storage`, the orphan
sweep, and the status workflow under concurrent requests (real commits, several connections)."""
from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.notifications.models import Notification, NotificationType
from webapp.support import services, storage
from webapp.support.models import Ticket, TicketMessage, TicketStatus, display_number
from webapp.support.uploads import RawUpload, UploadLimits, clean_filename, verify_uploads

from .images import png


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(root))
    return root


def files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.parametrize("number, shown", [(1, "#001"), (42, "#042"), (999, "#999"), (1000, "#1000")])
def test_display_number(number, shown):
    assert display_number(number) == shown


def test_next_ticket_number_comes_from_the_sequence(make):
    first = services.next_ticket_number()
    assert services.next_ticket_number() == first + 1


def test_stored_file_is_deleted_when_the_transaction_rolls_back(app, uploads):
    key = storage.store(png(), ".png")
    assert files(uploads) == [key]
    db.session.rollback()
    assert files(uploads) == []


def test_stored_file_is_kept_when_the_transaction_commits(app, uploads):
    key = storage.store(png(), ".png")
    db.session.commit()
    assert files(uploads) == [key] and storage.resolve(key) == uploads.resolve() / key
    db.session.rollback()  # a later transaction ending does not touch it
    assert files(uploads) == [key]


def test_a_failed_savepoint_does_not_delete_the_outer_transactions_files(uploads):
    key = storage.store(png(), ".png")
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            raise RuntimeError("inner failure")
    db.session.commit()
    assert files(uploads) == [key]


def test_sweep_removes_old_files_without_rows_only(make, uploads):
    user = make.user()
    kept = services.create_ticket(user=user, subject="Subject", description="Description here",
                                  images=verify_uploads([RawUpload("a.png", _stream(png()), len(png()))],
                                                        UploadLimits()))
    db.session.commit()
    orphan = storage.store(png(), ".png")
    db.session.commit()
    young = storage.store(png(), ".png")
    db.session.commit()
    stale_part = uploads / "tickets" / "2020" / "01" / ".abc.png.part"
    stale_part.parent.mkdir(parents=True)
    stale_part.write_bytes(b"half")
    old = time.time() - 2 * storage.ORPHAN_AGE_SECONDS
    for path in (uploads / kept.attachments[0].storage_key, uploads / orphan, stale_part):
        os.utime(path, (old, old))
    deleted = storage.sweep_orphans()
    assert sorted(deleted) == sorted([orphan, "tickets/2020/01/.abc.png.part"])
    assert files(uploads) == sorted([kept.attachments[0].storage_key, young])


@pytest.mark.parametrize("key", ["../x.png", "tickets/2025/01/../../../etc/passwd", "/etc/passwd",
                                 "tickets/2025/01/ABC.png", "tickets/2025/01/" + "a" * 32 + ".html"])
def test_resolve_refuses_keys_it_did_not_generate(key):
    assert storage.resolve(key) is None


def test_resolve_refuses_symlinks(uploads, tmp_path):
    key = "tickets/2025/01/" + "b" * 32 + ".png"
    (uploads / "tickets/2025/01").mkdir(parents=True)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png())
    (uploads / key).symlink_to(secret)
    assert storage.resolve(key) is None


def test_clean_filename():
    assert clean_filename("../../x.png") == "x.png"
    assert clean_filename("") == "attachment"
    assert len(clean_filename("x" * 400 + ".jpeg")) == 255


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


# ------------------------------------------------------------------------------------------- races
def _run_together(app, calls):
    """Run each call in its own thread, app context and session, released at the same moment."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def worker(index, call):
        with app.app_context():
            barrier.wait()
            try:
                outcomes[index] = call()
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - the outcome is what the test inspects
                db.session.rollback()
                outcomes[index] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def _committed_ticket(make, user) -> str:
    ticket = services.create_ticket(user=user, subject="Race subject", description="Race description")
    db.session.commit()
    return ticket.id


def test_two_admins_replying_at_once(app, committing_db, make):
    customer = make.user()
    admins = [make.user(role="ADMINISTRATOR"), make.user(role="ADMINISTRATOR")]
    db.session.commit()
    ticket_id = _committed_ticket(make, customer)
    admin_ids = [a.id for a in admins]

    def reply(admin_id):
        from webapp.accounts.models import User

        return lambda: services.add_staff_reply(admin=db.session.get(User, admin_id), ticket_id=ticket_id,
                                                content=f"Reply from {admin_id}").id

    outcomes = _run_together(app, [reply(i) for i in admin_ids])
    assert all(isinstance(o, str) for o in outcomes), outcomes
    db.session.expire_all()
    assert db.session.get(Ticket, ticket_id).status == TicketStatus.IN_PROGRESS
    assert db.session.execute(select(func.count()).select_from(TicketMessage)).scalar_one() == 2
    replied = db.session.execute(select(Notification).where(Notification.type == NotificationType.TICKET_REPLIED)
                                 ).scalars().all()
    assert len(replied) == 2 and {n.user_id for n in replied} == {customer.id}


def test_two_closes_by_the_owner_at_once(app, committing_db, make):
    customer = make.user()
    db.session.commit()
    ticket_id = _committed_ticket(make, customer)
    customer_id = customer.id

    def close():
        from webapp.accounts.models import User

        return services.close_ticket_as_owner(user=db.session.get(User, customer_id), ticket_id=ticket_id).id

    outcomes = _run_together(app, [close, close])
    assert sorted(type(o).__name__ for o in outcomes) == ["TicketAlreadyClosed", "str"], outcomes


def test_staff_close_racing_a_reopen_ends_in_a_legal_state(app, committing_db, make):
    customer, admin = make.user(), make.user(role="ADMINISTRATOR")
    db.session.commit()
    ticket_id = _committed_ticket(make, customer)
    admin_id = admin.id

    def act(service):
        from webapp.accounts.models import User

        return lambda: service(admin=db.session.get(User, admin_id), ticket_id=ticket_id).status

    outcomes = _run_together(app, [act(services.close_ticket_as_staff), act(services.close_ticket_as_staff)])
    assert outcomes == [TicketStatus.CLOSED, TicketStatus.CLOSED]
    closed = db.session.execute(select(Notification).where(Notification.type == NotificationType.TICKET_CLOSED)
                                ).scalars().all()
    assert len(closed) == 1  # one close event, however many clicks
