"""Support tickets: list, open (with images, multipart/form-data), read, reply (with images), close.

Uploads are checked by `support.uploads.verify_uploads` exactly as in the API and the console (count, size, real
image type; re-encoded), before the service writes anything; files reach the disk inside the service call only.
Attachments are served to their owner only (`support.services.attachment_file(owner_id=...)`).
"""
from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import login_required
from flask_wtf.file import MultipleFileField
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from ..errors import DomainError
from ..support import services as support
from ..support.errors import TicketClosed
from ..support.uploads import RawUpload, UploadLimits, verify_uploads
from .base import PAGE_SIZE, PortalForm, call, customer, form_error, page_arg, raise_not_found

FILES_HINT = "Images only (JPEG, PNG, GIF, WebP), up to 5 files of 5 MB each."


def _not_blank(form, field):
    if field.data is not None and not field.data.strip():
        from wtforms.validators import ValidationError

        raise ValidationError("This field cannot be blank")


class TicketForm(PortalForm):
    subject = StringField("Subject", validators=[InputRequired("Please enter a subject"), _not_blank,
                                                 Length(5, 200, "Subject must be 5 to 200 characters")])
    description = TextAreaField("Describe the problem", validators=[
        InputRequired("Please describe the problem"), _not_blank,
        Length(10, 2000, "Description must be 10 to 2000 characters")])
    attachments = MultipleFileField("Screenshots (optional)")


class ReplyForm(PortalForm):
    content = TextAreaField("Your reply", validators=[InputRequired("Please write a message"), _not_blank,
                                                      Length(max=2000, message="At most 2000 characters")])
    attachments = MultipleFileField("Screenshots (optional)")


class CloseForm(PortalForm):
    pass


def _images(form):
    """Verified images of the form's file input, or None with the error next to the field."""
    uploads = []
    for storage in request.files.getlist(form.attachments.name):
        if not storage or not storage.filename:
            continue  # browsers send an empty part when no file was chosen
        stream = storage.stream
        stream.seek(0, io.SEEK_END)
        size = stream.tell()
        stream.seek(0)
        uploads.append(RawUpload(filename=storage.filename, stream=stream, size=size))
    try:
        return verify_uploads(uploads, UploadLimits.from_config(current_app.config))
    except DomainError as error:
        form.attachments.errors = [*form.attachments.errors, error.text]
        return None


def _ticket_page(ticket_id: str, reply: ReplyForm | None = None, status: int = 200):
    if len(ticket_id) > 64:
        abort(404)
    ticket = support.get_ticket(ticket_id, owner_id=customer().id)  # another customer's: 404
    return render_template("portal/ticket.html", ticket=ticket, form=reply or ReplyForm(formdata=None),
                           close_form=CloseForm(formdata=None), hint=FILES_HINT), status


def register(bp: Blueprint) -> None:
    @bp.get("/tickets", endpoint="tickets")
    @login_required
    def tickets_page():
        page = page_arg()
        result = support.list_tickets(page=page, limit=PAGE_SIZE, user_id=customer().id)
        return render_template("portal/tickets.html", result=result, page=page,
                               total_pages=-(-result.total // PAGE_SIZE))

    @bp.route("/tickets/new", methods=["GET", "POST"])
    @login_required
    def new_ticket():
        form = TicketForm()
        if request.method == "POST":
            if form.validate_on_submit():
                images = _images(form)
                if images is not None:
                    ticket, error = call(support.create_ticket, user=customer(), subject=form.subject.data.strip(),
                                         description=form.description.data.strip(), images=images)
                    if error is None:
                        flash(f"Ticket {ticket.number} opened. We will get back to you soon.", "success")
                        return redirect(url_for("portal.ticket_page", ticket_id=ticket.id), code=303)
                    form_error(form, error)
            return render_template("portal/ticket_new.html", form=form, hint=FILES_HINT), 400
        return render_template("portal/ticket_new.html", form=form, hint=FILES_HINT)

    @bp.get("/tickets/<ticket_id>")
    @login_required
    def ticket_page(ticket_id: str):
        return _ticket_page(ticket_id)

    @bp.post("/tickets/<ticket_id>/reply")
    @login_required
    def ticket_reply(ticket_id: str):
        form = ReplyForm()
        if form.validate_on_submit():
            images = _images(form)
            if images is not None:
                _, error = call(support.add_customer_message, user=customer(), ticket_id=ticket_id[:64],
                                content=form.content.data.strip(), images=images)
                raise_not_found(error)
                if error is None:
                    flash("Your message was sent.", "success")
                    return redirect(url_for("portal.ticket_page", ticket_id=ticket_id), code=303)
                form_error(form, error, {TicketClosed: "content"})
        return _ticket_page(ticket_id, form, 400)

    @bp.post("/tickets/<ticket_id>/close")
    @login_required
    def ticket_close(ticket_id: str):
        form = CloseForm()
        if not form.validate_on_submit():
            abort(400)
        _, error = call(support.close_ticket_as_owner, user=customer(), ticket_id=ticket_id[:64])
        raise_not_found(error)
        flash(error.text if error else "The ticket was closed.", "error" if error else "success")
        return redirect(url_for("portal.ticket_page", ticket_id=ticket_id), code=303)

    @bp.get("/tickets/attachments/<attachment_id>")
    @login_required
    def ticket_attachment(attachment_id: str):
        attachment, path = support.attachment_file(attachment_id[:64], owner_id=customer().id)  # foreign: 404
        response = send_file(path, mimetype=attachment.mime_type, max_age=0)
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Content-Security-Policy"] = "default-src 'none'"
        return response
