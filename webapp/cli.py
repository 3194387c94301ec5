"""Command-line delivery layer (`flask ...`): demo data and operator tasks, through the same services."""
from __future__ import annotations

import click
from flask import Flask

from .extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load the demo users, categories, services and plans (idempotent)."""
        from .demo import seed_demo

        created = seed_demo()
        db.session.commit()
        click.echo("seed-demo: " + ", ".join(f"{count} {kind} created" for kind, count in created.items()))

    @app.cli.command("create-admin")
    @click.option("--email", required=True)
    @click.option("--name", default="Administrator")
    @click.password_option()
    def create_admin_command(email: str, name: str, password: str):
        """Create an administrator account."""
        from .accounts.models import Role
        from .accounts.services import create_user

        user = create_user(name=name, email=email, password=password, role=Role.ADMINISTRATOR)
        db.session.commit()
        click.echo(f"created administrator {user.email}")

    @app.cli.command("purge-refresh-tokens")
    def purge_refresh_tokens_command():
        """Delete expired and long-revoked refresh tokens."""
        from .accounts.tokens import purge_expired_refresh_tokens

        count = purge_expired_refresh_tokens()
        db.session.commit()
        click.echo(f"purged {count} refresh tokens")
