"""Console views of support tickets: the inbox and the ticket page."""


def register_views(admin, db) -> None:
    pass
