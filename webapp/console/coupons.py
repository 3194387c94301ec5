"""Console views of coupons: create, edit, deactivate, redemption counts."""


def register_views(admin, db) -> None:
    pass
