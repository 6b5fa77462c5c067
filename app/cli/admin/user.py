"""``galactive user``: add the people who label and administer, and list them."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer
from sqlalchemy import select

from app.cli.common import fail, ready
from app.services.auth import add_user
from storage.db import session_scope
from storage.models import User

app = typer.Typer(
    help="Users: labelers and admins, with scrypt-hashed passwords.", no_args_is_help=True
)


class Role(StrEnum):
    """What a user may do (``app.services.auth.ROLES``)."""

    admin = "admin"
    labeler = "labeler"


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User name (unique)."),
    role: Role = typer.Option(Role.labeler, "--role", help="What the user may do."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Add a user; the password is asked for twice (hidden), or read from stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = ready(ctx).engine()
    try:
        with session_scope(engine) as session:
            user = add_user(session, name, role.value, password)
            typer.echo(f"added {user.role} {user.name!r} (id {user.id})")
    except ValueError as err:
        fail(str(err))
    finally:
        engine.dispose()


@app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List users: id, name, role and when they were added."""
    engine = ready(ctx).engine()
    try:
        with session_scope(engine) as session:
            users = session.scalars(select(User).order_by(User.id)).all()
            for u in users:
                typer.echo(f"{u.id}\t{u.name}\t{u.role}\t{u.created_at:%Y-%m-%d %H:%M} UTC")
    finally:
        engine.dispose()
    if not users:
        typer.echo("no users yet: try `galactive user add NAME --role admin`")
