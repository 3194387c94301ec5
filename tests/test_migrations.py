"""Migrations build the whole schema on an empty PostgreSQL and an empty SQLite, and match the models."""
from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from webapp import create_app
from webapp.extensions import db

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _diff_against_models(app) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _migrate_and_compare(url: str, **extra):
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, **extra)
    with app.app_context():
        upgrade()
        assert _diff_against_models(app) == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "refresh_tokens", "services", "service_plans", "subscriptions", "transactions",
                "service_instances", "audit_entries", "alembic_version"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def empty_postgres():
    name = f"poddesk_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migrations_upgrade_empty_postgres_and_match_models(empty_postgres):
    _migrate_and_compare(empty_postgres)
    engine = create_engine(empty_postgres)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT nextval('transaction_sequence')")).scalar() == 101
    engine.dispose()


def test_migrations_upgrade_empty_sqlite(tmp_path):
    _migrate_and_compare(f"sqlite:///{tmp_path / 'poddesk.sqlite'}", SQLALCHEMY_ENGINE_OPTIONS={})
