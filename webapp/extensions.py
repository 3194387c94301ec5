"""Flask extensions, created once here and bound to an app in `create_app`."""
import re

import orjson
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Deterministic constraint names so Alembic migrations are stable across PostgreSQL and SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def forget_route_limits() -> None:
    """Drop the per-route limits registered by an earlier `create_app` in this process.

    Routes are defined inside `create_app` (nothing at import time), so their `@limiter.limit` decorators
    run once per app; flask-limiter keys them by function name in one process-wide registry, and a second
    app (tests, the migration check) would otherwise make every request count twice.
    """
    limiter.limit_manager._decorated_limits.clear()
    limiter._marked_for_limiting.clear()


# Numbers the two libraries print differently, all below 1e-4 in magnitude: one-digit negative exponents (the
# standard library writes "1e-07", orjson "1e-7") and 1e-6..1e-4 (standard "2.5e-05", orjson "0.000025"); large
# numbers print alike ("1e+16"). Both tests start from a literal, so a multi-megabyte body is scanned at memchr
# speed (a general number regex took ~50 ms per 3 MB); text that merely looks like such a number costs only the
# slower, standard path.
_SHORT_NEGATIVE_EXPONENT = re.compile(rb"e-[0-9](?![0-9])")
_NUMBER_ENDS_HERE = re.compile(rb"(?:^|[:,\[])-?[0-9]+(?:\.[0-9]+)?$")


def _numbers_may_differ(body: bytes) -> bool:
    if b"0.0000" in body:
        return True
    for hit in _SHORT_NEGATIVE_EXPONENT.finditer(body):  # "node-1" hits too: is the text before it a number?
        if _NUMBER_ENDS_HERE.search(body, max(0, hit.start() - 32), hit.start()):  # mantissas are <= 19 bytes
            return True
    return False


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with response bodies serialised by orjson when that gives the very same bytes.

    jsonify was a tenth of a cached catalog request's CPU. orjson keeps key order and writes compact JSON like
    Flask's compact mode; whenever its output could differ from the standard library's it is not used: non-ASCII
    text (Flask escapes it as \\uXXXX), values orjson refuses (integers beyond 64 bits, non-string keys), floats in
    exponent notation or below 1e-4 (`1e-05` versus `1e-5` / `0.00001`), DEL characters, and debug/indented output.
    (Floats otherwise print alike: both write the shortest repr. Two differences remain where Flask's own answer is
    unusable: a NaN, which Flask writes as invalid JSON, becomes null, and a plain Enum, which Flask cannot
    serialise (500), is written as its value.) Other uses of
    `app.json` (templates' `tojson`, sessions) keep the standard library.
    """

    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def response(self, *args, **kwargs):
        if self.compact is False or (self.compact is None and self._app.debug) or self.sort_keys \
                or not self.ensure_ascii:
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=self._OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            body = None
        # DEL is ASCII but the standard library escapes it (\u007f).
        if body is None or not body.isascii() or b"\x7f" in body or _numbers_may_differ(body):
            return self._app.response_class(f"{self.dumps(obj, separators=(',', ':'))}\n", mimetype=self.mimetype)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)
