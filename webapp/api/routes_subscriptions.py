"""Customer subscription routes (U1-U13)."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
