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

    users = click.Group("users", help="Look up and administer user accounts.")
    app.cli.add_command(users)

    def _actor(email: str):
        from .accounts.errors import InsufficientPermissions
        from .accounts.services import find_by_email

        actor = find_by_email(email)
        if actor is None or not actor.is_admin or not actor.is_active:
            raise InsufficientPermissions()
        return actor

    def _run(fn):
        from .errors import DomainError

        try:
            result = fn()
            db.session.commit()
            return result
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException(error.text) from None

    @users.command("list")
    @click.option("--search", default=None)
    @click.option("--role", type=click.Choice(["USER", "ADMINISTRATOR"]), default=None)
    @click.option("--limit", default=50, show_default=True)
    def users_list(search, role, limit):
        """List users, newest first."""
        from .accounts.services import list_users

        rows, total = list_users(page=1, limit=limit, search=search, role=role)
        for user in rows:
            state = "active" if user.is_active else "inactive"
            click.echo(f"{user.id}  {user.email:<32} {user.role.value:<13} {state:<8} {user.credit_balance:>12,} IDR")
        click.echo(f"{len(rows)} of {total} users")

    @users.command("set-active")
    @click.argument("email")
    @click.argument("state", type=click.Choice(["on", "off"]))
    @click.option("--as", "as_email", required=True, help="email of the administrator doing this")
    def users_set_active(email, state, as_email):
        """Activate (on) or deactivate (off) an account; deactivation ends its sessions."""
        from .accounts.errors import UserNotFound
        from .accounts.services import find_by_email, set_user_active

        def change():
            target = find_by_email(email)
            if target is None:
                raise UserNotFound()
            return set_user_active(_actor(as_email), target.id, state == "on", source="cli")

        user = _run(change)
        click.echo(f"{user.email} is now {'active' if user.is_active else 'deactivated'}")

    jobs = click.Group("jobs", help="Background jobs: the outbox and the RQ queues.")
    app.cli.add_command(jobs)

    @jobs.command("dispatch")
    def jobs_dispatch():
        """Push outbox rows that could not be enqueued at commit time."""
        from .outbox import dispatch_pending

        click.echo(f"dispatched {dispatch_pending()} jobs")

    @jobs.command("run")
    @click.option("--queue", "queues", multiple=True, default=["default"], show_default=True)
    def jobs_run(queues):
        """Run every queued job now in this process (burst), then exit."""
        from flask import current_app

        from jobs.queue import run_burst

        run_burst(current_app._get_current_object(), tuple(queues))
        click.echo("queues drained")

    @app.cli.command("check-invariants")
    @click.option("--no-cluster", is_flag=True, help="skip the Kubernetes check (no cluster reachable)")
    @click.option("--examples", default=3, show_default=True, help="violations shown per invariant")
    def check_invariants_command(no_cluster, examples):
        """Check the money and cluster invariants (reporting.invariants); exit status 1 on any violation."""
        from .reporting.invariants import check_all, format_table, violation_count

        results = check_all(cluster=not no_cluster)
        click.echo(format_table(results, examples=examples))
        if violation_count(results):
            raise SystemExit(1)

    @app.cli.command("purge-refresh-tokens")
    def purge_refresh_tokens_command():
        """Delete expired and long-revoked refresh tokens."""
        from .accounts.tokens import purge_expired_refresh_tokens

        count = purge_expired_refresh_tokens()
        db.session.commit()
        click.echo(f"purged {count} refresh tokens")
