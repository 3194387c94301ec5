"""Support tickets in the console: the inbox, the ticket page, replies with images, close and reopen.

- Inbox (`/admin/tickets/`): oldest-waiting first (customers waiting longest for staff on top, answered and
  closed tickets after them); filters by status, customer email and dates; search in subject, description,
  message text and customer email (and `#12` finds ticket 12). A customer's tickets:
  `/admin/tickets/?flt0_customer_email_equals=<email>` (linked from every ticket page).
- Ticket page (`/admin/tickets/details/?id=...`): the conversation, attachment thumbnails (served by the
  admin-only `attachment` route), a reply form with uploads, close/reopen buttons; every form carries CSRF.
Nothing here writes a column: replies, close and reopen go through `support.services` via `call_service`;
uploads are checked by `support.uploads.verify_uploads`, exactly as in the API.
"""
from __future__ import annotations

import io
import re

from flask import current_app, flash, redirect, request, send_file
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from markupsafe import Markup, escape
from PIL import Image
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload
from wtforms import MultipleFileField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from ..accounts.models import User
from ..errors import DomainError
from ..support import services as support
from ..support.models import Ticket, TicketMessage, TicketStatus
from ..support.uploads import RawUpload, UploadLimits, verify_uploads
from .base import SecureForm, SecureModelView, call_service, clean_text, current_admin

THUMBNAIL_SIZE = (240, 240)
_NUMBER = re.compile(r"^#?(\d{1,9})$")


def _not_blank(form, field):
    if not (field.data or "").strip():
        raise ValidationError("Write a message.")


class ReplyForm(SecureForm):
    content = TextAreaField("Reply", validators=[InputRequired(), _not_blank, Length(max=2000)])
    attachments = MultipleFileField("Images (JPEG, PNG, GIF, WebP; up to 5 files of 5 MB)")


class TicketActionForm(SecureForm):
    """Close / reopen: only the CSRF token."""


def _number(view, context, model, name):
    return model.number


_STATUS_BADGES = {TicketStatus.OPEN: "badge-danger", TicketStatus.IN_PROGRESS: "badge-warning",
                  TicketStatus.CLOSED: "badge-secondary"}


def _status(view, context, model, name):
    status = model.status
    return Markup(f'<span class="badge {_STATUS_BADGES.get(status, "badge-light")}">{escape(status.value)}</span>')


def _customer(view, context, model, name):
    return model.user.email if model.user else ""


def uploads_from(files) -> list[RawUpload]:
    """The non-empty file inputs of a console form as `RawUpload`s (the browser sends an empty part when none)."""
    uploads = []
    for storage in files:
        if not storage or not storage.filename:
            continue
        stream = storage.stream
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
        stream.seek(0)
        uploads.append(RawUpload(filename=storage.filename, stream=stream, size=size))
    return uploads


class TicketView(SecureModelView):
    can_view_details = True
    can_export = True
    column_export_list = ["ticket_number", "subject", "user.email", "status", "waiting_since", "updated_at",
                          "created_at"]
    column_formatters_export = {"ticket_number": lambda v, c, m, n: f"#{m.ticket_number:03d}",
                                "status": lambda v, c, m, n: m.status.value}
    details_template = "console/support/ticket_details.html"
    named_filter_urls = True

    column_list = ["ticket_number", "subject", "user.email", "status", "waiting_since", "updated_at", "created_at"]
    column_labels = {"ticket_number": "Ticket", "user.email": "Customer email", "waiting_since": "Waiting since",
                     "updated_at": "Last activity", "created_at": "Opened"}
    column_formatters = {"ticket_number": _number, "status": _status, "user.email": _customer}
    column_filters = ["status", "user.email", "created_at", "updated_at"]
    column_searchable_list = ["subject"]  # widened in `_apply_search`
    column_sortable_list = ["ticket_number", "status", "waiting_since", "updated_at", "created_at"]

    def __init__(self, session_or_db, **kwargs):
        super().__init__(Ticket, session_or_db, **kwargs)

    def get_query(self):
        # The export streams rows after the request's session is gone: load the customer with the ticket.
        return super().get_query().options(joinedload(Ticket.user))

    # ---- inbox order and search
    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        if sort_column is None:
            return query.order_by(Ticket.waiting_since.is_(None), Ticket.waiting_since.asc(),
                                  Ticket.updated_at.desc(), Ticket.id), joins
        return super()._apply_sorting(query, joins, sort_column, sort_desc)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        for term in (t for t in clean_text(search).split(" ") if t):
            criterion = _search_criterion(term)
            query = query.filter(criterion)
            if count_query is not None:
                count_query = count_query.filter(criterion)
        return query, count_query, joins, count_joins

    def customer_filter_url(self, email: str) -> str | None:
        for index, flt in enumerate(self._filters or []):
            if str(flt.name) == self.column_labels["user.email"] and str(flt.operation()) == "equals":
                return self.get_url(".index_view", **{f"flt0_{self.get_filter_arg(index, flt)}": email})
        return None

    # ---- the ticket page
    @expose("/details/")
    def details_view(self):
        return_url = get_redirect_target() or self.get_url(".index_view")
        ticket = self._ticket(request.args.get("id", ""))
        if ticket is None:
            return redirect(return_url)
        return self._render_ticket(ticket, ReplyForm(), return_url)

    @expose("/reply/", methods=("POST",))
    def reply_view(self):
        return_url = get_redirect_target() or self.get_url(".index_view")
        ticket = self._ticket(request.args.get("id", ""))
        if ticket is None:
            return redirect(return_url)
        form = ReplyForm()
        if not form.validate_on_submit():
            return self._render_ticket(ticket, form, return_url), 400
        try:
            images = verify_uploads(uploads_from(request.files.getlist("attachments")),
                                    UploadLimits.from_config(current_app.config))
        except DomainError as error:
            form.attachments.errors = [error.text]
            return self._render_ticket(ticket, form, return_url), 400
        ok, _ = call_service(support.add_staff_reply, admin=current_admin(), ticket_id=ticket.id,
                             content=form.content.data, images=images)
        if ok:
            flash(f"Reply sent on ticket {ticket.number}.", "success")
        return redirect(self.get_url(".details_view", id=ticket.id, url=return_url))

    @expose("/close/", methods=("POST",))
    def close_view(self):
        return self._transition(support.close_ticket_as_staff, "closed")

    @expose("/reopen/", methods=("POST",))
    def reopen_view(self):
        return self._transition(support.reopen_ticket, "reopened")

    @expose("/attachment/<attachment_id>")
    def attachment_view(self, attachment_id):
        """An attachment for staff eyes only (this view's access rule); `?thumb=1` for a small PNG preview."""
        try:
            attachment, path = support.attachment_file(attachment_id[:100])
        except DomainError as error:
            return error.text, error.status
        if request.args.get("thumb"):
            with Image.open(path) as image:
                image.thumbnail(THUMBNAIL_SIZE)
                preview = image.convert("RGBA")
            out = io.BytesIO()
            preview.save(out, "PNG")
            out.seek(0)
            response = send_file(out, mimetype="image/png", max_age=0)
        else:
            response = send_file(path, mimetype=attachment.mime_type, max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response

    # ---- helpers
    def _ticket(self, ticket_id: str):
        try:
            return support.get_ticket(ticket_id[:100])
        except DomainError as error:
            flash(error.text, "error")
            return None

    def _render_ticket(self, ticket, form, return_url):
        return self.render(self.details_template, ticket=ticket, form=form, action_form=TicketActionForm(),
                           return_url=return_url, customer_url=self.customer_filter_url(ticket.user.email))

    def _transition(self, service, done: str):
        return_url = get_redirect_target() or self.get_url(".index_view")
        form = TicketActionForm()
        ticket_id = request.args.get("id", "")[:100]
        if not form.validate_on_submit():
            flash("The form expired; please try again.", "error")
        else:
            ok, ticket = call_service(service, admin=current_admin(), ticket_id=ticket_id, source="console")
            if ok:
                flash(f"Ticket {ticket.number} {done}.", "success")
        return redirect(self.get_url(".details_view", id=ticket_id, url=return_url))


def _search_criterion(term: str):
    """One search word: a ticket number (`#12`), or a substring of subject, description, a message or the email."""
    like = "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    options = [func.lower(Ticket.subject).like(like, escape="\\"),
               func.lower(Ticket.description).like(like, escape="\\"),
               exists(select(TicketMessage.id).where(TicketMessage.ticket_id == Ticket.id,
                                                     func.lower(TicketMessage.content).like(like, escape="\\"))),
               exists(select(User.id).where(User.id == Ticket.user_id, func.lower(User.email).like(like, escape="\\")))]
    number = _NUMBER.match(term)
    if number:
        options.append(Ticket.ticket_number == int(number.group(1)))
    return or_(*options)


def register_views(admin, db) -> None:
    admin.add_view(TicketView(db, name="Tickets", endpoint="tickets", url="tickets"))
