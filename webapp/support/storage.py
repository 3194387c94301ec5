"""Attachment files on disk, under `UPLOAD_FOLDER` (never under `static/`), kept in step with the database.

Keys are relative and generated here only: `tickets/YYYY/MM/<uuid4 hex>.<ext>` (UTC), the extension from
the decoded image format. Writing order, so that a crash can never leave a row without its file:

1. `store()` writes `.<name>.part`, fsyncs it and renames it to the final key (atomic), then remembers the
   path on the session;
2. the caller inserts the attachment row and commits;
3. if that transaction ends without a commit (rollback, error, request teardown) the remembered files are
   deleted. A crash between 1 and 3 leaves only a file without a row, which `sweep_orphans` removes later.

Reads resolve a key inside the root and refuse anything that escapes it or is a symlink.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..extensions import db

KEY_PATTERN = re.compile(r"^tickets/\d{4}/\d{2}/[0-9a-f]{32}\.(?:jpg|png|gif|webp)$")
_STAGED = "poddesk_staged_files"
ORPHAN_AGE_SECONDS = 3600


def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"]).resolve()


def store(data: bytes, extension: str, session: Session | None = None) -> str:
    """Write one file durably under a fresh key; it is deleted again unless the session's transaction commits."""
    session = session or db.session()
    session.connection()  # the file belongs to a live transaction, whose end decides its fate
    now = utcnow()
    key = f"tickets/{now:%Y}/{now:%m}/{uuid.uuid4().hex}{extension}"
    assert KEY_PATTERN.match(key), key
    final = upload_root() / key
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(f".{final.name}.part")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    session.info.setdefault(_STAGED, []).append(final)
    return key


def resolve(key: str) -> Path | None:
    """The file of a stored key, or None if the key is malformed, escapes the root, is a symlink or is missing."""
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        return None
    root = upload_root()
    path = root / key
    try:
        if path.is_symlink() or not path.resolve().is_relative_to(root) or not path.is_file():
            return None
    except OSError:
        return None
    return path


def delete_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        current_app.logger.warning("could not delete %s", path, exc_info=True)


@event.listens_for(Session, "after_commit")
def _keep_committed_files(session: Session) -> None:
    if session.in_nested_transaction():  # a released savepoint: the outer transaction has not committed
        return
    session.info.pop(_STAGED, None)


@event.listens_for(Session, "after_transaction_end")
def _delete_uncommitted_files(session: Session, transaction) -> None:
    # Savepoints end inside the outer transaction; only the outer one decides.
    if transaction.parent is not None or transaction.nested:
        return
    for path in session.info.pop(_STAGED, []):
        try:
            path.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - nothing more can be done; the sweep will retry
            pass


def sweep_orphans(*, older_than_seconds: int = ORPHAN_AGE_SECONDS) -> list[str]:
    """Delete files under `tickets/` that no attachment row names (and stale `.part` files) older than the age.

    Safe to run at any time: a file younger than the age may belong to a transaction still in flight.
    Returns the deleted keys.
    """
    from .models import TicketAttachment

    root = upload_root()
    base = root / "tickets"
    if not base.is_dir():
        return []
    cutoff = time.time() - older_than_seconds
    candidates: dict[str, Path] = {}
    for path in base.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_mtime > cutoff:
                continue
        except OSError:
            continue
        candidates[path.relative_to(root).as_posix()] = path
    if not candidates:
        return []
    known = set(db.session.execute(select(TicketAttachment.storage_key)
                                   .where(TicketAttachment.storage_key.in_(list(candidates)))).scalars())
    deleted = []
    for key, path in candidates.items():
        if key not in known:
            delete_quietly(path)
            deleted.append(key)
    return deleted
