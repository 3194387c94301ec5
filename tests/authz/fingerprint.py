"""What "nothing changed" means for a refused write: the row count of every table and the full text of the world's
rows (customer A's, B's, the administrator's and the shared catalog/staff rows) are the same before and after.

One SQL statement reads all of it (PostgreSQL's `row::text`), so the matrix can afford it around every write.
"""
from __future__ import annotations

from sqlalchemy import text

from webapp.extensions import db


def _labelled_rows(world) -> dict[str, object]:
    a, b = world.a, world.b
    return {"user_a": a.user, "subscription_a": a.subscription, "instance_a": a.instance, "ticket_a": a.ticket,
            "attachment_a": a.attachment, "reply_attachment_a": a.reply_attachment, "topup_a": a.topup,
            "charge_a": a.charge,
            "user_b": b.user, "subscription_b": b.subscription, "ticket_b": b.ticket, "admin": world.admin,
            "service": world.service, "plan": world.plan, "plan2": world.plan2, "category": world.category,
            "coupon": world.coupon, "notification": world.notification}


def _statement(world) -> tuple[str, dict]:
    parts, params = [], {}
    for table in db.metadata.sorted_tables:
        parts.append(f"SELECT 'count.{table.name}' AS k, count(*)::text AS v FROM \"{table.name}\"")
    for i, (label, obj) in enumerate(_labelled_rows(world).items()):
        table = type(obj).__table__.name
        parts.append(f"SELECT 'row.{label}' AS k, t::text AS v FROM \"{table}\" t WHERE t.id = :id{i}")
        params[f"id{i}"] = obj.id
    return " UNION ALL ".join(parts), params


def fingerprint(world) -> dict[str, str]:
    cache = world.extra.get("fingerprint_sql")
    if cache is None:
        cache = world.extra["fingerprint_sql"] = _statement(world)
    sql, params = cache
    return dict(db.session.execute(text(sql), params).all())


def changes(before: dict, after: dict, scope: set[str] | None = None) -> list[str]:
    """Differences as text; `scope` keeps only the given keys ("row.user_a", "count.tickets", ...)."""
    out = []
    for key in sorted(set(before) | set(after)):
        if scope is not None and key not in scope:
            continue
        if before.get(key) != after.get(key):
            out.append(f"{key}: {before.get(key)!r} -> {after.get(key)!r}")
    return out
