"""Console views of subscriptions and their lifecycle actions."""


def register_views(admin, db) -> None:
    pass
