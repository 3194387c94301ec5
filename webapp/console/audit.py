"""The audit log in the console: read-only, newest first, filterable, exportable."""
from __future__ import annotations

import json

from markupsafe import Markup, escape

from ..audit.models import AuditEntry
from .base import SecureModelView, redact


def _snapshot(view, context, model, name):
    value = getattr(model, name)
    if value is None:
        return ""
    text = json.dumps(redact(value), indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return Markup("<pre class='mb-0'>%s</pre>") % escape(text)


def _snapshot_export(view, context, model, name):
    value = getattr(model, name)
    return "" if value is None else json.dumps(redact(value), ensure_ascii=False, sort_keys=True, default=str)


class AuditView(SecureModelView):
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["created_at", "actor_email", "action", "target_type", "target_id", "source", "reason"]
    column_details_list = ["id", "created_at", "actor_id", "actor_email", "action", "target_type", "target_id",
                           "source", "reason", "before", "after"]
    column_export_list = ["id", "created_at", "actor_id", "actor_email", "action", "target_type", "target_id",
                          "source", "reason", "before", "after"]
    column_searchable_list = ["action", "target_id", "actor_email", "reason"]
    column_filters = ["action", "target_type", "actor_email", "source", "created_at"]
    column_sortable_list = ["created_at", "actor_email", "action", "target_type", "source"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_labels = {"created_at": "When", "actor_email": "Actor", "actor_id": "Actor ID", "target_type": "Target type",
                     "target_id": "Target ID", "id": "ID"}
    column_formatters_detail = {"before": _snapshot, "after": _snapshot}
    column_formatters_export = {"before": _snapshot_export, "after": _snapshot_export}

    def __init__(self, session_or_db, **kwargs):
        super().__init__(AuditEntry, session_or_db, **kwargs)


def register_views(admin, db) -> None:
    admin.add_view(AuditView(db, name="Audit log", endpoint="audit", url="audit"))
