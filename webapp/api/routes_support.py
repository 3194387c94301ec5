"""Support ticket routes (customer and admin)."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
