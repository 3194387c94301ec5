"""Flask extensions, created once here and bound to an app in `create_app`."""
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
