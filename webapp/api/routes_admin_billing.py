"""Admin billing routes (B1-B9)."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
