"""Admin cluster routes: health and Kubernetes monitoring."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
