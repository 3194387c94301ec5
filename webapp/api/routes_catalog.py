"""(being written)"""
from flask import Blueprint


def register(bp: Blueprint) -> None:
    pass
