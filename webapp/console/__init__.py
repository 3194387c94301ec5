"""The staff console at /admin (Flask-Admin), for administrators only."""
from flask import Flask


def init_console(app: Flask) -> None:
    pass
