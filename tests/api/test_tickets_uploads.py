"""Attachments through the API (spec-support-tickets §2.0, T7, AT9, D1-D6, D8-D10): what is accepted, what is
refused with which message, what is left on disk (nothing, after a refusal), and how files are served."""
from __future__ import annotations

import io
import re
import urllib.parse

import pytest
from PIL import Image
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.support import services as support_services
from webapp.support.models import Ticket, TicketAttachment, TicketMessage

from ..conftest import assert_envelope
from ..console.conftest import FreshContextClient
from ..support.images import (HTML, SVG, animated_gif, jpeg_with_gps, png, png_claiming, polyglot, truncated_png,
                              webp, zip_file)

MiB = 1024 * 1024
NEW = {"subject": "Screenshot of the error", "description": "See the attached screenshots please."}
KEY = re.compile(r"^tickets/\d{4}/\d{2}/[0-9a-f]{32}\.(jpg|png|gif|webp)$")


@pytest.fixture
def client(app):
    return FreshContextClient(app, app.response_class, use_cookies=True)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path, monkeypatch):
    root = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(root))
    return root


def stored_files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _count(model) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def part(data: bytes, name: str, content_type: str = "image/png"):
    return (io.BytesIO(data), name, content_type)


def create(api, user, files, **fields):
    data = {**NEW, **fields, "attachments": files}
    return api.post("/api/tickets", as_user=user, data=data, content_type="multipart/form-data")


def _open(api, user) -> dict:
    return assert_envelope(api.post("/api/tickets", as_user=user, json=NEW), 201)["data"]


# ------------------------------------------------------------------------------------------- accepted
def test_every_accepted_format_is_stored_by_its_decoded_type(api, customer, uploads):
    files = [part(png(), "error-screenshot.png"), part(jpeg_with_gps(), "photo.JPG", "image/jpeg"),
             part(animated_gif(), "anim.gif", "image/gif"), part(webp(), "pic.webp", "image/webp")]
    body = assert_envelope(create(api, customer, files), 201, "Ticket created successfully")
    attachments = body["data"]["attachments"]
    assert [(a["filename"], a["mimeType"]) for a in attachments] == [
        ("error-screenshot.png", "image/png"), ("photo.JPG", "image/jpeg"), ("anim.gif", "image/gif"),
        ("pic.webp", "image/webp")]
    for a in attachments:
        assert set(a) == {"id", "filename", "fileSize", "mimeType", "ticketId", "messageId", "uploadedBy",
                          "createdAt", "downloadUrl"}  # no filePath / storedName for customers (D10)
        assert a["ticketId"] == body["data"]["id"] and a["messageId"] is None and a["uploadedBy"] == customer.id
        assert a["downloadUrl"] == f"/api/tickets/attachments/{a['id']}"
    files_on_disk = stored_files(uploads)
    assert len(files_on_disk) == 4 and all(KEY.match(k) for k in files_on_disk)
    rows = db.session.execute(select(TicketAttachment)).scalars().all()
    assert sorted(r.storage_key for r in rows) == files_on_disk
    gif = next(r for r in rows if r.mime_type == "image/gif")
    with Image.open(uploads / gif.storage_key) as image:
        assert image.n_frames == 3  # animation kept


def test_exif_and_gps_are_stripped(api, customer, uploads):
    with Image.open(io.BytesIO(jpeg_with_gps())) as original:
        assert original.getexif()  # the test image really carries EXIF
    assert_envelope(create(api, customer, [part(jpeg_with_gps(), "gps.jpg", "image/jpeg")]), 201)
    (key,) = stored_files(uploads)
    raw = (uploads / key).read_bytes()
    with Image.open(uploads / key) as stored:
        assert not stored.getexif() and "exif" not in stored.info
    assert b"SpyCam" not in raw


def test_appended_payload_is_not_stored(api, customer, uploads):
    assert_envelope(create(api, customer, [part(polyglot(), "poly.png")]), 201)
    (key,) = stored_files(uploads)
    assert b"<script>" not in (uploads / key).read_bytes()


def test_extension_and_type_come_from_the_content_not_the_client(api, customer, uploads):
    """A real PNG sent as `evil.php` with a JPEG content type is stored and served as PNG."""
    body = assert_envelope(create(api, customer, [part(png(), "evil.php", "image/jpeg")]), 201)
    (attachment,) = body["data"]["attachments"]
    assert attachment["mimeType"] == "image/png" and attachment["filename"] == "evil.php"
    (key,) = stored_files(uploads)
    assert key.endswith(".png")


@pytest.mark.parametrize("name, shown", [
    ("../../x.png", "x.png"), ("C:/Users/me/x.png", "x.png"), ("/etc/passwd", "passwd"),
    ("スクリーンショット 2025.png", "スクリーンショット 2025.png"), ("a\tb\u200bc\u202e.png", "abc.png"),
    ("..", "attachment"),
])
def test_client_names_are_display_only(api, customer, uploads, tmp_path, name, shown):
    body = assert_envelope(create(api, customer, [part(png(), name)]), 201)
    assert body["data"]["attachments"][0]["filename"] == shown
    (key,) = stored_files(uploads)
    assert KEY.match(key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]  # nothing escaped the root


def test_very_long_names_are_shortened(api, customer):
    body = assert_envelope(create(api, customer, [part(png(), "n" * 1000 + ".png")]), 201)
    name = body["data"]["attachments"][0]["filename"]
    assert len(name) == 255 and name.endswith(".png")


def test_exactly_five_files_of_exactly_5_mib_are_accepted(api, customer, uploads):
    padded = png() + b"\0" * (5 * MiB - len(png()))
    assert len(padded) == 5 * MiB
    files = [part(padded, f"big{i}.png") for i in range(5)]
    body = assert_envelope(create(api, customer, files), 201)
    assert len(body["data"]["attachments"]) == 5 and len(stored_files(uploads)) == 5


def test_messages_carry_attachments_for_customer_and_staff(api, customer, admin, uploads):
    ticket = _open(api, customer)
    r = api.post(f"/api/tickets/{ticket['id']}/messages", as_user=customer, content_type="multipart/form-data",
                 data={"content": "Here is another one", "attachments": [part(png(), "more.png")]})
    body = assert_envelope(r, 201, "Message added successfully")
    assert body["data"]["attachments"][0]["messageId"] == body["data"]["id"]
    assert body["data"]["attachments"][0]["ticketId"] is None
    r = api.post(f"/api/admin/tickets/{ticket['id']}/messages", as_user=admin, content_type="multipart/form-data",
                 data={"content": "Look at this", "attachments": [part(png(), "a.png"), part(webp(), "b.webp")]})
    staff = assert_envelope(r, 201, "Admin response added successfully")["data"]["attachments"]
    assert len(staff) == 2 and all(KEY.match(a["filePath"]) and a["storedName"] in a["filePath"] for a in staff)
    assert all(not a["filePath"].startswith("/") for a in staff)  # a key, never a server path
    assert len(stored_files(uploads)) == 3


# ------------------------------------------------------------------------------------------- refused
LIARS = [
    (HTML, "payload.png", "image/png"), (SVG, "x.svg", "image/png"), (SVG, "vector.svg", "image/svg+xml"),
    (truncated_png(), "cut.png", "image/png"), (zip_file(), "archive.png", "image/png"),
    (b"%PDF-1.4 not an image", "document.pdf", "application/pdf"), (b"hello", "document.txt", "text/plain"),
    (b"", "empty.png", "image/png"), (png_claiming(30_000, 30_000), "bomb.png", "image/png"),
    (png_claiming(7_000, 7_000), "large.png", "image/png"),
]


@pytest.mark.parametrize("data, name, content_type", LIARS)
def test_files_that_are_not_sound_images_are_refused(api, customer, uploads, data, name, content_type):
    r = create(api, customer, [part(png(), "fine.png"), part(data, name, content_type)])
    assert_envelope(r, 400, f"File {name} has invalid type. Only images are allowed.")
    assert stored_files(uploads) == [] and _count(Ticket) == 0 and _count(TicketAttachment) == 0


@pytest.mark.parametrize("data, name, content_type", LIARS[:3])
def test_liars_are_refused_on_messages_too(api, customer, admin, uploads, data, name, content_type):
    ticket = _open(api, customer)
    for path, user in ((f"/api/tickets/{ticket['id']}/messages", customer),
                       (f"/api/admin/tickets/{ticket['id']}/messages", admin)):
        r = api.post(path, as_user=user, content_type="multipart/form-data",
                     data={"content": "hi", "attachments": [part(data, name, content_type)]})
        assert_envelope(r, 400, f"File {name} has invalid type. Only images are allowed.")
    assert stored_files(uploads) == [] and _count(TicketMessage) == 0


def test_a_sixth_file_is_refused_before_anything_else(api, customer, uploads):
    files = [part(png(), f"{i}.png") for i in range(5)] + [part(HTML, "sixth.png")]
    assert_envelope(create(api, customer, files), 400, "Maximum 5 files allowed per upload")
    assert stored_files(uploads) == [] and _count(Ticket) == 0


def test_a_file_over_5_mib_is_refused(api, customer, uploads):
    big = png() + b"\0" * (5 * MiB + 1 - len(png()))
    r = create(api, customer, [part(png(), "ok.png"), part(big, "huge.png")])
    assert_envelope(r, 400, "File huge.png exceeds 5MB size limit")
    six = png() + b"\0" * (6 * MiB)
    assert_envelope(create(api, customer, [part(six, "six.png")]), 400, "File six.png exceeds 5MB size limit")
    assert stored_files(uploads) == [] and _count(Ticket) == 0


def test_size_is_checked_before_type(api, customer):
    r = create(api, customer, [part(HTML, "bad.png"), part(b"\0" * (5 * MiB + 1), "huge.png")])
    assert_envelope(r, 400, "File huge.png exceeds 5MB size limit")


def test_files_are_not_written_when_text_fields_are_invalid(api, customer, uploads):
    r = create(api, customer, [part(png(), "a.png")], subject="Hi")
    assert_envelope(r, 400, "Subject must be at least 5 characters long")
    r = create(api, customer, [part(png(), "a.png")], extra="x")
    assert_envelope(r, 400, '"extra" is not allowed')
    assert stored_files(uploads) == [] and _count(Ticket) == 0


def test_a_file_in_another_field_is_refused(api, customer, uploads):
    r = api.post("/api/tickets", as_user=customer, content_type="multipart/form-data",
                 data={**NEW, "file": part(png(), "a.png")})
    assert_envelope(r, 400, "Unexpected file field: file")
    assert stored_files(uploads) == []


def test_an_attachments_part_without_file_name_is_a_text_field(api, customer):
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\n{NEW['subject']}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n{NEW['description']}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"\r\n\r\nnot a file\r\n"
            f"--{boundary}--\r\n")
    r = api.post("/api/tickets", as_user=customer, data=body.encode(),
                 content_type=f"multipart/form-data; boundary={boundary}")
    assert_envelope(r, 400, '"attachments" is not allowed')


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data", b"--x\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nabc"),
    ("multipart/form-data; boundary=abc", b"garbage without any boundary"),
    ("multipart/form-data; boundary=abc", b"--abc\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"),
])
def test_malformed_multipart_is_400(api, customer, content_type, body):
    r = api.post("/api/tickets", as_user=customer, data=body, content_type=content_type)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["message"] in ("Invalid multipart body", "Subject is required")
    assert _count(Ticket) == 0


def test_a_body_over_max_content_length_is_413_in_the_envelope(api, customer, app, monkeypatch, uploads):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 64 * 1024)
    r = create(api, customer, [part(png() + b"\0" * (100 * 1024), "a.png")])
    assert_envelope(r, 413, "Request entity too large")
    assert stored_files(uploads) == []


def test_files_are_removed_when_the_transaction_fails(api, customer, uploads, monkeypatch):
    """Files are written before the commit; a failure after that leaves neither rows nor files."""

    def broken_notify(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(support_services, "notify", broken_notify)
    r = create(api, customer, [part(png(), "a.png"), part(webp(), "b.webp")])
    assert r.status_code == 500 and r.get_json()["message"] == "Internal server error"
    assert "database" not in r.get_data(as_text=True)
    assert stored_files(uploads) == [] and _count(Ticket) == 0 and _count(TicketAttachment) == 0


# ------------------------------------------------------------------------------------------ downloads
def _with_attachment(api, user, name="error-screenshot.png") -> tuple[dict, dict]:
    body = assert_envelope(create(api, user, [part(png(), name)]), 201)["data"]
    return body, body["attachments"][0]


def test_owner_downloads_with_safe_headers(api, customer, uploads):
    _, attachment = _with_attachment(api, customer, "r\u00e9sum\u00e9 \u6f22;x.png")
    r = api.get(attachment["downloadUrl"], as_user=customer)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "private, no-cache, no-store, must-revalidate"
    assert r.headers["Pragma"] == "no-cache" and r.headers["Expires"] == "0"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="resume _x.png"; ')
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded) == "r\u00e9sum\u00e9 \u6f22;x.png"
    assert int(r.headers["Content-Length"]) == len(r.data) == attachment["fileSize"]
    with Image.open(io.BytesIO(r.data)) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("name, fallback", [
    ('say "hi".png', "say _hi_.png"), ("back\\slash.png", "back_slash.png"), ("a\r\nSet-Cookie: x.png", "a__Set-Cookie: x.png"),
    ("\u6f22\u5b57.png", "attachment.png"), ("\u6f22\u5b57", "attachment"),
])
def test_content_disposition_is_always_a_safe_header(name, fallback):
    from webapp.api.routes_support import content_disposition

    value = content_disposition(name)
    assert value.startswith(f'attachment; filename="{fallback}"; filename*=UTF-8\'\'')
    assert "\r" not in value and "\n" not in value and value.isascii()
    assert urllib.parse.unquote(value.split("UTF-8''", 1)[1]) == name


def test_foreign_and_missing_attachments_look_the_same(api, customer, other_customer):
    """D8: no existence oracle."""
    _, attachment = _with_attachment(api, customer)
    for path in (attachment["downloadUrl"], "/api/tickets/attachments/c" + "q" * 24):
        body = assert_envelope(api.get(path, as_user=other_customer), 404, "Attachment not found")
        assert "data" not in body
    assert_envelope(api.get(attachment["downloadUrl"]), 401, "Access token is required")


def test_customer_downloads_staff_attachments_on_own_ticket(api, customer, other_customer, admin):
    ticket = _open(api, customer)
    r = api.post(f"/api/admin/tickets/{ticket['id']}/messages", as_user=admin, content_type="multipart/form-data",
                 data={"content": "See this", "attachments": [part(png(), "fix.png")]})
    attachment = assert_envelope(r, 201)["data"]["attachments"][0]
    assert api.get(f"/api/tickets/attachments/{attachment['id']}", as_user=customer).status_code == 200
    assert_envelope(api.get(f"/api/tickets/attachments/{attachment['id']}", as_user=other_customer), 404,
                    "Attachment not found")


def test_admin_downloads_any_attachment(api, customer, admin):
    _, attachment = _with_attachment(api, customer)
    r = api.get(f"/api/admin/tickets/attachments/{attachment['id']}", as_user=admin)
    assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"
    assert_envelope(api.get("/api/admin/tickets/attachments/nope", as_user=admin), 404, "Attachment not found")
    assert_envelope(api.get(f"/api/admin/tickets/attachments/{attachment['id']}", as_user=customer), 403,
                    "Access denied. Insufficient permissions.")


def test_missing_file_is_404_file_not_found(api, customer, admin, uploads):
    """D9: the admin branch answered 400 with the helper's crash text."""
    _, attachment = _with_attachment(api, customer)
    for path in uploads.rglob("*.png"):
        path.unlink()
    assert_envelope(api.get(attachment["downloadUrl"], as_user=customer), 404, "File not found on server")
    assert_envelope(api.get(f"/api/admin/tickets/attachments/{attachment['id']}", as_user=admin), 404,
                    "File not found on server")


def test_a_tampered_key_is_never_followed(api, customer, uploads, tmp_path):
    _, attachment = _with_attachment(api, customer)
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    row = db.session.get(TicketAttachment, attachment["id"])
    row.storage_key = "../secret.txt"
    db.session.flush()
    assert_envelope(api.get(attachment["downloadUrl"], as_user=customer), 404, "File not found on server")
