"""Tickets in the console: the inbox (order, filters, search), the ticket page, replies with images, close and
reopen, the admin-only attachment route, and who may reach any of it."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.db import utcnow
from webapp.extensions import db
from webapp.support import services
from webapp.support.models import Ticket, TicketAttachment, TicketMessage, TicketStatus
from webapp.support.uploads import RawUpload, UploadLimits, verify_uploads

from ..support.images import HTML, png
from .conftest import csrf_from, flashed_text, reload


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(root))
    return root


def stored_files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def ticket_for(user, subject="Console ticket", description="Something is broken here", images=()) -> Ticket:
    ticket = services.create_ticket(user=user, subject=subject, description=description, images=images)
    db.session.flush()
    return ticket


def image(name="shot.png"):
    return verify_uploads([RawUpload(name, io.BytesIO(png()), len(png()))], UploadLimits())


def page_of(ticket) -> str:
    return f"/admin/tickets/details/?id={ticket.id}"


# ------------------------------------------------------------------------------------------- access
def test_anonymous_visitors_go_to_login_and_customers_get_403(console, client, customer, make):
    ticket = ticket_for(customer, images=image())
    attachment_url = f"/admin/tickets/attachment/{ticket.attachments[0].id}"
    for url in ("/admin/tickets/", page_of(ticket), attachment_url):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], url
    console.force_session(customer)
    for url in ("/admin/tickets/", page_of(ticket), attachment_url):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/tickets/close/?id={ticket.id}").status_code in (400, 403)
    assert reload(ticket).status == TicketStatus.OPEN


# -------------------------------------------------------------------------------------------- inbox
def test_inbox_is_oldest_waiting_first(signed_in, customer, admin):
    answered = ticket_for(customer, subject="Answered ticket")
    services.add_staff_reply(admin=admin, ticket_id=answered.id, content="Done")
    newer = ticket_for(customer, subject="Newer waiting ticket")
    older = ticket_for(customer, subject="Older waiting ticket")
    older.waiting_since = utcnow() - timedelta(days=2)
    db.session.flush()
    html = signed_in.client.get("/admin/tickets/").get_data(as_text=True)
    positions = [html.index(s) for s in ("Older waiting ticket", "Newer waiting ticket", "Answered ticket")]
    assert positions == sorted(positions)
    assert older.number in html


def test_inbox_filters_by_status_and_customer_email(signed_in, customer, other_customer):
    ticket_for(customer, subject="Ticket of customer")
    closed = ticket_for(other_customer, subject="Ticket of other")
    services.close_ticket_as_owner(user=other_customer, ticket_id=closed.id)
    db.session.flush()
    html = signed_in.client.get("/admin/tickets/?flt0_status_equals=CLOSED").get_data(as_text=True)
    assert "Ticket of other" in html and "Ticket of customer" not in html
    html = signed_in.client.get(f"/admin/tickets/?flt0_customer_email_equals={customer.email}").get_data(as_text=True)
    assert "Ticket of customer" in html and "Ticket of other" not in html
    response = signed_in.client.get("/admin/tickets/?flt0_status_equals=NOPE")
    assert response.status_code == 200


def test_inbox_search_finds_message_text_and_numbers(signed_in, customer, admin):
    target = ticket_for(customer, subject="Payment question")
    ticket_for(customer, subject="Unrelated question")
    services.add_customer_message(user=customer, ticket_id=target.id, content="The invoice shows ZEBRA-42")
    db.session.flush()
    html = signed_in.client.get("/admin/tickets/?search=zebra-42").get_data(as_text=True)
    assert "Payment question" in html and "Unrelated question" not in html
    html = signed_in.client.get(f"/admin/tickets/?search=%23{target.ticket_number}").get_data(as_text=True)
    assert "Payment question" in html and "Unrelated question" not in html
    assert signed_in.client.get("/admin/tickets/?search=100%25_%5C").status_code == 200


# ------------------------------------------------------------------------------------- ticket page
def test_ticket_page_shows_conversation_thumbnails_and_customer_link(signed_in, customer):
    ticket = ticket_for(customer, images=image("screen.png"))
    services.add_customer_message(user=customer, ticket_id=ticket.id, content="<script>alert(1)</script>")
    db.session.flush()
    response = signed_in.client.get(page_of(ticket))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ticket.number in html and "Something is broken here" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    attachment = ticket.attachments[0]
    assert f"/admin/tickets/attachment/{attachment.id}?thumb=1" in html
    assert f"flt0_customer_email_equals={customer.email}" in html.replace("%40", "@")
    thumb = signed_in.client.get(f"/admin/tickets/attachment/{attachment.id}?thumb=1")
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/png"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert signed_in.client.get("/admin/tickets/attachment/nope").status_code == 404


def test_unknown_ticket_page_redirects_with_a_message(signed_in):
    response = signed_in.client.get("/admin/tickets/details/?id=nope", follow_redirects=True)
    assert "Ticket not found" in flashed_text(response)


def test_reply_with_an_image_moves_the_ticket_in_progress(signed_in, customer, uploads):
    ticket = ticket_for(customer)
    data = {"content": "Fixed, see screenshot", "csrf_token": signed_in.token(page_of(ticket)),
            "attachments": [(io.BytesIO(png()), "fix.png", "image/png")]}
    response = signed_in.client.post(f"/admin/tickets/reply/?id={ticket.id}", data=data,
                                     content_type="multipart/form-data", follow_redirects=True)
    assert "Reply sent on ticket" in flashed_text(response)
    assert reload(ticket).status == TicketStatus.IN_PROGRESS
    message = db.session.execute(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)).scalar_one()
    assert message.is_admin_reply and message.content == "Fixed, see screenshot"
    assert len(stored_files(uploads)) == 1 and len(message.attachments) == 1


def test_reply_without_csrf_token_is_refused(signed_in, customer):
    ticket = ticket_for(customer)
    response = signed_in.client.post(f"/admin/tickets/reply/?id={ticket.id}", data={"content": "no token"})
    assert response.status_code == 400
    assert db.session.execute(select(TicketMessage)).first() is None


@pytest.mark.parametrize("content, files, message", [
    ("   ", [], "Write a message."),
    ("Hello", [(io.BytesIO(HTML), "page.png", "image/png")], "File page.png has invalid type. Only images are allowed."),
    ("Hello", [(io.BytesIO(png()), f"{i}.png", "image/png") for i in range(6)], "Maximum 5 files allowed per upload"),
])
def test_bad_replies_show_the_error_and_change_nothing(signed_in, customer, uploads, content, files, message):
    ticket = ticket_for(customer)
    data = {"content": content, "csrf_token": signed_in.token(page_of(ticket)), "attachments": files}
    response = signed_in.client.post(f"/admin/tickets/reply/?id={ticket.id}", data=data,
                                     content_type="multipart/form-data")
    assert response.status_code == 400 and message in flashed_text(response)
    assert db.session.execute(select(TicketMessage)).first() is None and stored_files(uploads) == []
    assert reload(ticket).status == TicketStatus.OPEN


def test_close_and_reopen_buttons(signed_in, customer, admin):
    ticket = ticket_for(customer)
    response = signed_in.post_form(page_of(ticket), {}, post_url=f"/admin/tickets/close/?id={ticket.id}")
    assert f"Ticket {ticket.number} closed." in flashed_text(response)
    assert reload(ticket).status == TicketStatus.CLOSED and reload(ticket).closed_by == admin.id
    assert "Reopen" in response.get_data(as_text=True)
    response = signed_in.post_form(page_of(ticket), {}, post_url=f"/admin/tickets/reopen/?id={ticket.id}")
    assert f"Ticket {ticket.number} reopened." in flashed_text(response)
    assert reload(ticket).status == TicketStatus.OPEN


def test_close_of_unknown_ticket_is_a_message_not_a_500(signed_in, customer):
    ticket = ticket_for(customer)
    token = signed_in.token(page_of(ticket))
    response = signed_in.client.post("/admin/tickets/close/?id=nope", data={"csrf_token": token},
                                     follow_redirects=True)
    assert response.status_code == 200 and "Ticket not found" in flashed_text(response)


def test_tickets_export_as_csv_with_the_customer_email(app, make):
    from webapp.extensions import db
    from webapp.support import services as support

    from .conftest import Console, FreshContextClient

    client = FreshContextClient(app, app.response_class, use_cookies=True)
    admin = make.user(email="csv.admin@example.com", role="ADMINISTRATOR")
    owner = make.user(email="csv.owner@example.com")
    db.session.commit()
    support.create_ticket(user=owner, subject="Export me", description="Please export this ticket")
    db.session.commit()
    Console(client).login(admin.email)
    response = client.get("/admin/tickets/export/csv/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Export me" in body and "csv.owner@example.com" in body
