"""Admin coupon routes."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
