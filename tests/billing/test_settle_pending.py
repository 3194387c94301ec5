"""`ledger.settle_pending` on the Midtrans hot path: Core UPDATEs in one savepoint, the claimed provider id, stale
ORM objects expired (not re-read)."""
from webapp.billing import ledger
from webapp.billing.models import Transaction, TransactionStatus, TransactionType
from webapp.extensions import db


def _pending(user, amount):
    return ledger.open_pending(user.id, amount, type=TransactionType.TOP_UP, description="Top-up",
                               payment_method="MIDTRANS_QRIS", metadata={"payment_method": "QRIS"})


def test_settlement_writes_balances_claim_and_metadata_and_loaded_objects_see_them(make):
    user = make.user()
    ledger.credit(user.id, 5_000, type=TransactionType.ADMIN_ADJUSTMENT, description="seed")
    pending = _pending(user, 40_000)
    assert user.credit_balance == 5_000  # loaded before the settlement: must not stay stale
    posting = ledger.settle_pending(pending.id, metadata={"midtrans_status": "settlement"}, claim_key="midtrans:abc")
    assert posting.applied and not posting.key_conflict
    row = posting.transaction
    assert (row.status, row.balance_before, row.balance_after, row.idempotency_key) == (
        TransactionStatus.COMPLETED, 5_000, 45_000, "midtrans:abc")
    assert row.completed_at is not None
    assert row.metadata_ == {"payment_method": "QRIS", "midtrans_status": "settlement"}
    assert (user.credit_balance, user.total_top_up) == (45_000, 40_000)
    assert ledger.ledger_sum(user.id) == 45_000
    again = ledger.settle_pending(pending.id, claim_key="midtrans:abc")
    assert not again.applied and not again.key_conflict
    db.session.refresh(user)
    assert user.credit_balance == 45_000


def test_a_claimed_key_of_another_row_undoes_everything(make):
    user = make.user()
    first, second = _pending(user, 20_000), _pending(user, 30_000)
    assert ledger.settle_pending(first.id, claim_key="midtrans:same").applied
    posting = ledger.settle_pending(second.id, claim_key="midtrans:same")
    assert not posting.applied and posting.key_conflict
    # The savepoint rolled back the balance change; the transaction itself is still usable.
    row = db.session.get(Transaction, second.id)
    assert (row.status, row.idempotency_key) == (TransactionStatus.PENDING, None)
    db.session.refresh(user)
    assert user.credit_balance == 20_000 == ledger.ledger_sum(user.id)
    assert ledger.settle_pending(second.id, claim_key="midtrans:other").applied
    db.session.refresh(user)
    assert user.credit_balance == 50_000 == ledger.ledger_sum(user.id)
