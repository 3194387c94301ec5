"""Admin subscription routes (A1-A9)."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
