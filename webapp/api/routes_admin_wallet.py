"""Admin wallet routes: statistics, per-user wallets, adjustments."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
