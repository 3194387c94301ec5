"""Console pages of the live Kubernetes cluster (Plotly) and app instances."""


def register_views(admin, db) -> None:
    pass
