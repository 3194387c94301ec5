"""Money in the console: the read-only transactions ledger and the per-user wallet page with its adjust form."""
from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from webapp.audit.models import AuditEntry
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db

from .conftest import flashed_text, reload


def _ledger(make):
    alice = make.user(name="Alice Payer", email="alice@money.test")
    bob = make.user(name="Bob Payer", email="bob@money.test")
    a = ledger.credit(alice.id, 125_000, type=TransactionType.TOP_UP, description="Top-up credit via QRIS",
                      payment_reference="snap-token-alice").transaction
    b = ledger.open_pending(bob.id, 50_000, type=TransactionType.TOP_UP, description="Top-up credit via E_WALLET",
                            payment_method="MIDTRANS_E_WALLET")
    db.session.flush()
    return alice, bob, a, b


def test_transactions_list_search_and_filters(signed_in, make):
    alice, bob, a, b = _ledger(make)
    html = signed_in.client.get("/admin/transactions/").get_data(as_text=True)
    for text in (a.custom_id, b.custom_id, "alice@money.test", "125.000", "PENDING", "MIDTRANS_E_WALLET"):
        assert text in html, text
    assert f"/admin/wallet/{alice.id}" in html                      # link to the wallet page
    for term, present, absent in ((a.custom_id, a.custom_id, b.custom_id), ("bob@money", b.custom_id, a.custom_id),
                                  ("snap-token-alice", a.custom_id, b.custom_id)):
        page = signed_in.client.get("/admin/transactions/", query_string={"search": term}).get_data(as_text=True)
        assert present in page and absent not in page, term
    view = next(v for v in signed_in.client.application.extensions["poddesk_console"]._views
                if getattr(v, "endpoint", "") == "transactions")
    keys = {(str(flt.name), type(flt).__name__): view.get_filter_arg(i, flt) for i, flt in enumerate(view._filters)}
    status_key = next(k for (name, kind), k in keys.items() if name == "Status" and "Equal" in kind and "Not" not in kind)
    filtered = signed_in.client.get(f"/admin/transactions/?flt0_{status_key}=PENDING").get_data(as_text=True)
    assert b.custom_id in filtered and a.custom_id not in filtered
    bogus = signed_in.client.get(f"/admin/transactions/?flt0_{status_key}=NOPE")
    assert bogus.status_code == 200


def test_transactions_export_csv(signed_in, make):
    alice, bob, a, b = _ledger(make)
    r = signed_in.client.get("/admin/transactions/export/csv/")
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {row["TXMP id"] for row in rows} == {a.custom_id, b.custom_id}
    assert {row["User"] for row in rows} == {"alice@money.test", "bob@money.test"}


def test_ledger_cannot_be_created_edited_or_deleted(signed_in, make):
    alice, bob, a, b = _ledger(make)
    html = signed_in.client.get("/admin/transactions/").get_data(as_text=True)
    assert "/admin/transactions/new/" not in html and "/admin/transactions/edit/" not in html
    token = signed_in.token("/admin/transactions/")
    signed_in.client.post("/admin/transactions/delete/", data={"id": a.id, "csrf_token": token})
    signed_in.client.post(f"/admin/transactions/edit/?id={a.id}", data={"amount": "1", "csrf_token": token})
    signed_in.client.post("/admin/transactions/new/", data={"amount": "1", "csrf_token": token})
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Transaction)).scalar_one() == 2
    assert db.session.get(Transaction, a.id).amount == 125_000


def test_wallet_page_and_adjust_form(signed_in, make, admin):
    alice, bob, a, b = _ledger(make)
    page = signed_in.client.get(f"/admin/wallet/{alice.id}").get_data(as_text=True)
    assert "alice@money.test" in page and 'data-balance="125000"' in page and a.custom_id in page
    r = signed_in.post_form(f"/admin/wallet/{alice.id}", {"amount": "25000", "direction": "DEDUCT",
                                                          "reason": "Refund of double charge"})
    assert r.status_code == 200 and "25.000 IDR deducted from alice@money.test" in flashed_text(r)
    assert reload(alice).credit_balance == 100_000
    row = db.session.execute(select(Transaction).where(Transaction.type == TransactionType.ADMIN_ADJUSTMENT)).scalar_one()
    assert (row.processed_by, row.admin_notes, row.status) == (admin.id, "Refund of double charge",
                                                               TransactionStatus.COMPLETED)
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "wallet.credit_deducted")).scalar_one()
    assert entry.source == "console" and entry.actor_id == admin.id
    r = signed_in.post_form(f"/admin/wallet/{alice.id}", {"amount": "50000", "direction": "ADD",
                                                          "reason": "Goodwill credit"})
    assert reload(alice).credit_balance == 150_000 == ledger.ledger_sum(alice.id)


def test_adjust_form_refusals_change_nothing(signed_in, make):
    alice, bob, a, b = _ledger(make)
    r = signed_in.post_form(f"/admin/wallet/{bob.id}", {"amount": "10000", "direction": "DEDUCT",
                                                        "reason": "Too much to take"})
    assert "Insufficient balance. User has 0 credits, but 10000 credits requested for deduction." in flashed_text(r)
    for data in ({"amount": "10", "direction": "ADD", "reason": "valid reason"},
                 {"amount": "abc", "direction": "ADD", "reason": "valid reason"},
                 {"amount": "10000", "direction": "STEAL", "reason": "valid reason"},
                 {"amount": "10000", "direction": "ADD", "reason": "no"}):
        assert signed_in.post_form(f"/admin/wallet/{bob.id}", data).status_code == 200
    no_csrf = signed_in.client.post(f"/admin/wallet/{bob.id}", data={"amount": "10000", "direction": "ADD",
                                                                     "reason": "valid reason"})
    assert no_csrf.status_code in (200, 400)
    assert reload(bob).credit_balance == 0
    assert db.session.execute(select(func.count()).select_from(Transaction)
                              .where(Transaction.type == TransactionType.ADMIN_ADJUSTMENT)).scalar_one() == 0


def test_wallet_index_lookup_and_unknown_user(signed_in, make):
    alice, bob, a, b = _ledger(make)
    r = signed_in.client.get("/admin/wallet/", query_string={"email": "ALICE@money.test"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/wallet/{alice.id}")
    assert "User not found" in flashed_text(signed_in.client.get("/admin/wallet/?email=nobody@x.test"))
    assert signed_in.client.get("/admin/wallet/c" + "z" * 24).status_code == 404


def test_money_pages_are_for_administrators_only(console, make):
    customer = make.user(email="nosy@money.test")
    assert console.client.get("/admin/transactions/").status_code == 302
    assert console.client.get(f"/admin/wallet/{customer.id}").status_code == 302
    console.force_session(customer)
    assert console.client.get("/admin/transactions/").status_code == 403
    assert console.client.get(f"/admin/wallet/{customer.id}").status_code == 403


def test_users_list_links_each_balance_to_the_wallet_page(app, client, make):
    from .conftest import Console

    admin = make.user(email="walletlink.admin@example.com", role="ADMINISTRATOR")
    customer = make.user(email="walletlink.cust@example.com", credit_balance=0)
    from webapp.extensions import db

    db.session.commit()
    console = Console(client)
    console.login(admin.email)
    html = client.get("/admin/users/").get_data(as_text=True)
    assert f'href="/admin/wallet/{customer.id}"' in html
    assert client.get(f"/admin/wallet/{customer.id}").status_code == 200
