"""Support tickets: open with an image (multipart), list, read, reply, close; isolation; escaping."""
import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.support import services as support
from webapp.support.models import Ticket

from .conftest import field_error, text


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(tmp_path))
    return tmp_path


def png(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), color).save(out, "PNG")
    return out.getvalue()


def _tickets(user) -> int:
    return db.session.execute(select(func.count()).select_from(Ticket).where(Ticket.user_id == user.id)).scalar_one()


def _open(portal, **fields):
    data = {"subject": "My n8n is down", "description": "It stopped answering this morning.", **fields}
    data["csrf_token"] = portal.token("/portal/tickets/new")
    return portal.client.post("/portal/tickets/new", data=data, content_type="multipart/form-data")


def test_open_a_ticket_with_a_png_and_see_it_listed(signed_in, customer):
    response = _open(signed_in, attachments=[(io.BytesIO(png()), "screen shot.png")])
    assert response.status_code == 303
    ticket = db.session.execute(select(Ticket).where(Ticket.user_id == customer.id)).scalar_one()
    listing = signed_in.get("/portal/tickets")
    assert listing.status_code == 200
    assert "My n8n is down" in text(listing) and ticket.number in text(listing) and "1 image(s)" in text(listing)
    page = signed_in.get(response.location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "screen shot.png" in html
    attachment = support.get_ticket(ticket.id).attachments[0]
    download = signed_in.get(f"/portal/tickets/attachments/{attachment.id}")
    assert download.status_code == 200 and download.mimetype == "image/png"
    assert Image.open(io.BytesIO(download.data)).size == (24, 16)


def test_invalid_tickets_show_field_errors_and_create_nothing(signed_in, customer):
    short = _open(signed_in, subject="Hi", description="short")
    assert short.status_code == 400
    assert field_error(short, "subject") == "Subject must be 5 to 200 characters"
    assert field_error(short, "description") == "Description must be 10 to 2000 characters"
    fake = _open(signed_in, attachments=[(io.BytesIO(b"<svg onload=alert(1)>"), "evil.png")])
    assert fake.status_code == 400
    assert field_error(fake, "attachments") == "File evil.png has invalid type. Only images are allowed."
    no_csrf = signed_in.client.post("/portal/tickets/new", data={"subject": "Subject ok",
                                                                 "description": "Long enough text"})
    assert no_csrf.status_code == 400
    assert _tickets(customer) == 0


def test_reply_and_close(signed_in, customer):
    ticket_url = _open(signed_in).location
    ticket_id = ticket_url.rsplit("/", 1)[1]
    reply = signed_in.post(f"{ticket_url}/reply", {"content": "Still down."}, page=ticket_url)
    assert reply.status_code == 303
    empty = signed_in.post(f"{ticket_url}/reply", {"content": "   "}, page=ticket_url)
    assert empty.status_code == 400 and field_error(empty, "content")
    assert "Still down." in text(signed_in.get(ticket_url))
    closed = signed_in.post(f"{ticket_url}/close", {}, page=ticket_url)
    assert closed.status_code == 303
    assert support.get_ticket(ticket_id).status.value == "CLOSED"
    late = signed_in.post(f"{ticket_url}/reply", {"content": "Hello?"}, page="/portal/tickets")
    assert late.status_code == 400 and field_error(late, "content") == "Ticket is closed"
    assert len(support.get_ticket(ticket_id).messages) == 1


def test_another_customers_ticket_and_attachment_are_404(signed_in, other_customer):
    from webapp.support.uploads import verify_image

    image = verify_image("theirs.png", png(), max_pixels=10_000)
    theirs = support.create_ticket(user=other_customer, subject="Their ticket", description="Their description",
                                   images=[image])
    attachment_id = theirs.attachments[0].id
    assert signed_in.get(f"/portal/tickets/{theirs.id}").status_code == 404
    assert signed_in.get(f"/portal/tickets/attachments/{attachment_id}").status_code == 404
    assert signed_in.post(f"/portal/tickets/{theirs.id}/reply", {"content": "Mine now"}).status_code == 404
    assert signed_in.post(f"/portal/tickets/{theirs.id}/close", {}).status_code == 404
    assert "Their ticket" not in text(signed_in.get("/portal/tickets"))
    assert support.get_ticket(theirs.id).status.value == "OPEN" and not support.get_ticket(theirs.id).messages


def test_html_in_a_ticket_is_escaped(signed_in):
    url = _open(signed_in, subject="<img src=x onerror=alert(1)>",
                description="<script>alert('desc')</script>").location
    html = signed_in.get(url).get_data(as_text=True)
    assert "<script>alert('desc')</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x onerror=alert(1)>" not in html
    assert "<img src=x" not in signed_in.get("/portal/tickets").get_data(as_text=True)
