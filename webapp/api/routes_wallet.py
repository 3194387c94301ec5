"""Wallet routes: balance, top-ups through Midtrans, ledger, coupons, the Midtrans webhook."""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
