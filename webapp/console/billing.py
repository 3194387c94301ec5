"""Console billing page: KPIs, renewal charts, run-a-job buttons, notification outbox."""


def register_views(admin, db) -> None:
    pass
