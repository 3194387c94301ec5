from .fixtures import served_app, midtrans, midtrans_sim  # noqa: F401
