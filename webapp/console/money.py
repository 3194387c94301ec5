"""Console views of the money domain: transactions ledger, coupons, per-user wallet."""


def register_views(admin, db) -> None:
    pass
