"""Users in the console: listing, search, filters, export, detail page and the state-changing actions."""
from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from webapp.accounts.models import RefreshToken, Role
from webapp.accounts.tokens import issue_refresh_token, parse_duration
from webapp.extensions import db

from .conftest import BCRYPT_PREFIX, flashed_text, reload


def test_list_shows_the_columns_and_hides_secrets(signed_in, make):
    make.user(name="Alice Example", email="alice@example.test", phone="+62811111", google_id="g-secret-sub",
              credit_balance=125_000)
    html = signed_in.client.get("/admin/users/").get_data(as_text=True)
    for text in ("Alice Example", "alice@example.test", "+62811111", "isActive", "Credit balance", "Created",
                 "125.000", "ADMINISTRATOR"):
        assert text in html, text
    assert BCRYPT_PREFIX not in html and "g-secret-sub" not in html
    # No generic create/edit/delete.
    assert "/admin/users/new/" not in html and "/admin/users/edit/" not in html
    assert signed_in.client.get("/admin/users/new/").status_code == 302
    assert signed_in.client.get("/admin/users/edit/?id=x").status_code == 302


def test_generic_delete_and_edit_posts_change_nothing(signed_in, make):
    user = make.user(name="Keep Me")
    token = signed_in.token("/admin/users/")
    r = signed_in.client.post("/admin/users/delete/", data={"id": user.id, "csrf_token": token})
    assert r.status_code == 302
    r = signed_in.client.post(f"/admin/users/edit/?id={user.id}", data={"name": "Hacked", "role": "ADMINISTRATOR",
                                                                         "csrf_token": token})
    assert r.status_code == 302
    r = signed_in.client.post("/admin/users/ajax/update/", data={"list_form_pk": user.id, "role": "ADMINISTRATOR",
                                                                 "csrf_token": token})
    assert r.status_code == 404
    user = reload(user)
    assert user.name == "Keep Me" and user.role == Role.USER and user.deleted_at is None


def test_newest_first(signed_in, make):
    from datetime import timedelta

    from webapp.db import utcnow

    make.user(name="Older Person", created_at=utcnow() - timedelta(days=3))
    make.user(name="Newer Person", created_at=utcnow() - timedelta(days=1))
    html = signed_in.client.get("/admin/users/").get_data(as_text=True)
    assert html.index("Newer Person") < html.index("Older Person")


def test_search_by_name_email_and_phone(signed_in, make):
    make.user(name="Findable Fiona", email="fiona@example.test", phone="+62899000")
    make.user(name="Other Olaf", email="olaf@example.test")
    for term in ("Findable", "fiona@", "+62899"):
        html = signed_in.client.get("/admin/users/", query_string={"search": term}).get_data(as_text=True)
        assert "Findable Fiona" in html and "Other Olaf" not in html, term


def test_filter_by_role_and_active(app, signed_in, make):
    make.user(name="Inactive Ingrid", is_active=False)
    make.user(name="Active Arnold")
    view = next(v for v in app.extensions["poddesk_console"]._views if v.endpoint == "users")
    keys = {(str(flt.name), type(flt).__name__): view.get_filter_arg(idx, flt) for idx, flt in enumerate(view._filters)}
    active_key = keys[("isActive", "BooleanEqualFilter")]
    role_key = keys[("Role", "EnumEqualFilter")]

    html = signed_in.client.get(f"/admin/users/?flt0_{active_key}=0").get_data(as_text=True)
    assert "Inactive Ingrid" in html and "Active Arnold" not in html
    html = signed_in.client.get(f"/admin/users/?flt0_{role_key}=ADMINISTRATOR").get_data(as_text=True)
    assert "boss@poddesk.example.com" in html and "Active Arnold" not in html
    response = signed_in.client.get(f"/admin/users/?flt0_{role_key}=NOT_A_ROLE")
    assert response.status_code == 200 and "Active Arnold" in response.get_data(as_text=True)


def test_csv_export(signed_in, make):
    make.user(name="Exported Eve", email="eve@example.test", google_id="g-sub-eve")
    response = signed_in.client.get("/admin/users/export/csv/")
    assert response.status_code == 200
    assert "text/csv" in response.headers["Content-Type"]
    body = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    eve = next(row for row in rows if row["Email"] == "eve@example.test")
    assert eve["Name"] == "Exported Eve" and eve["Role"] == "USER"
    assert BCRYPT_PREFIX not in body and "g-sub-eve" not in body
    assert not any("password" in key.lower() or "token" in key.lower() for key in rows[0])


def test_detail_page(signed_in, make):
    user = make.user(name="Detailed Dora", credit_balance=5000)
    html = signed_in.client.get(f"/admin/users/details/?id={user.id}").get_data(as_text=True)
    assert "Detailed Dora" in html and "5.000" in html
    assert BCRYPT_PREFIX not in html and "Token version" not in html
    assert 'value="deactivate"' in html and 'value="make_admin"' in html


def test_soft_deleted_users_are_not_shown(signed_in, make):
    from webapp.db import utcnow

    gone = make.user(name="Deleted user", email="deleted-x@deleted.invalid", deleted_at=utcnow(), is_active=False)
    assert "deleted-x@deleted.invalid" not in signed_in.client.get("/admin/users/").get_data(as_text=True)
    assert signed_in.client.get(f"/admin/users/details/?id={gone.id}", follow_redirects=True).status_code == 200


# -------------------------------------------------------------------------------------------------- actions
def test_row_buttons_post_to_the_action_endpoint_with_a_token(signed_in, make):
    user = make.user(name="Row Button")
    html = signed_in.client.get("/admin/users/").get_data(as_text=True)
    assert f'name="rowid" value="{user.id}"' in html
    assert 'action="/admin/users/action/"' in html


def test_deactivate_calls_the_service_and_revokes_sessions(signed_in, make, monkeypatch):
    from webapp.accounts import services

    calls = []
    original = services.set_user_active
    monkeypatch.setattr(services, "set_user_active", lambda *a, **k: calls.append(a) or original(*a, **k))

    user = make.user(name="To Deactivate")
    issue_refresh_token(user, lifetime=parse_duration("7d"))
    db.session.flush()
    response = signed_in.action("users", "deactivate", [user.id])
    assert response.status_code == 200
    assert "1 user deactivated." in flashed_text(response)
    assert len(calls) == 1 and calls[0][1:] == (user.id, False)
    after = reload(user)
    assert after.is_active is False
    assert after.token_version == 1  # access tokens and console sessions end
    tokens = db.session.execute(select(RefreshToken).where(RefreshToken.user_id == user.id)).scalars().all()
    assert tokens and all(t.revoked_at is not None for t in tokens)


def test_activate(signed_in, make):
    user = make.user(is_active=False)
    response = signed_in.action("users", "activate", [user.id])
    assert "1 user activated." in flashed_text(response)
    assert reload(user).is_active is True


def test_self_deactivation_is_refused_with_a_flash(signed_in, admin):
    response = signed_in.action("users", "deactivate", [admin.id])
    assert response.status_code == 200
    assert "You cannot change your own role or status" in flashed_text(response)
    after = reload(admin)
    assert after.is_active is True and after.token_version == 0
    assert signed_in.client.get("/admin/users/").status_code == 200  # still signed in


def test_change_role(signed_in, make):
    user = make.user()
    response = signed_in.action("users", "make_admin", [user.id])
    assert "1 user made administrator." in flashed_text(response)
    after = reload(user)
    assert after.role == Role.ADMINISTRATOR and after.token_version == 1
    response = signed_in.action("users", "make_user", [user.id])
    assert reload(user).role == Role.USER


def test_own_role_change_is_refused(signed_in, admin):
    response = signed_in.action("users", "make_user", [admin.id])
    assert "You cannot change your own role or status" in flashed_text(response)
    assert reload(admin).role == Role.ADMINISTRATOR


def test_bulk_action_applies_to_each_row_and_reports_refusals(signed_in, admin, make):
    a, b = make.user(), make.user()
    response = signed_in.action("users", "deactivate", [a.id, admin.id, b.id, "no-such-user"])
    text = flashed_text(response)
    assert "2 users deactivated." in text
    assert "You cannot change your own role or status" in text and "User not found" in text
    assert reload(a).is_active is False and reload(b).is_active is False
    assert reload(admin).is_active is True


@pytest.mark.parametrize("rowid", ["", "x" * 300, "\x00", "' OR 1=1 --"])
def test_odd_row_ids_are_not_server_errors(signed_in, rowid):
    response = signed_in.action("users", "deactivate", [rowid])
    assert response.status_code == 200


def test_unknown_action_does_nothing(signed_in, make):
    user = make.user()
    response = signed_in.action("users", "delete", [user.id])
    assert response.status_code == 200
    assert reload(user).deleted_at is None


def test_action_without_csrf_token_is_rejected(signed_in, make):
    user = make.user()
    response = signed_in.client.post("/admin/users/action/", data={"action": "deactivate", "rowid": user.id})
    assert response.status_code == 400
    assert reload(user).is_active is True


def test_action_from_detail_page_returns_there(signed_in, make):
    user = make.user()
    page = f"/admin/users/details/?id={user.id}"
    token = signed_in.token(page)
    response = signed_in.client.post("/admin/users/action/", data={
        "action": "deactivate", "rowid": user.id, "url": page, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == page


def test_action_return_url_cannot_leave_the_site(signed_in, make):
    user = make.user()
    token = signed_in.token("/admin/users/")
    response = signed_in.client.post("/admin/users/action/", data={
        "action": "activate", "rowid": user.id, "url": "https://evil.example/", "csrf_token": token})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]

