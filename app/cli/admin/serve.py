"""``galactive serve``: the web app (``app/web/asgi.py``) under uvicorn, on this database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import typer
from sqlalchemy.engine import make_url

from app.cli.common import ready
from app.config import Settings

ASGI = "app.web.asgi:app"


def server_command(settings: Settings, *, port: int, host: str) -> tuple[list[str], dict]:
    """The uvicorn argv and environment for the app on ``host:port``: Streamlit's ``st.App``
    behind the guard middleware (security headers, no public metrics, no anonymous uploads;
    ``app/web/guard.py``), with Streamlit's options as ``app/web/asgi.py`` sets them."""
    argv = [
        sys.executable, "-m", "uvicorn", ASGI,
        "--host", host,
        "--port", str(port),
        "--no-access-log",
        "--no-server-header",
    ]  # fmt: skip
    env = {**os.environ, "GALACTIVE_DB": settings.db_url, "GALACTIVE_HOME": str(settings.home)}
    return argv, env


def serve(
    ctx: typer.Context,
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."
    ),
) -> None:
    """Run the web app (sign-in, labeling) until interrupted."""
    settings = ready(ctx)
    argv, env = server_command(settings, port=port, host=host)
    database = make_url(settings.db_url).render_as_string(hide_password=True)
    typer.echo(f"Galactive on http://{host}:{port} (database {database})", err=True)
    proc = subprocess.Popen(argv, env=env)
    # SIGTERM to us stops Streamlit too; Ctrl-C reaches both, so wait for it to finish.
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        while True:
            try:
                code = proc.wait()
                break
            except KeyboardInterrupt:
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)
    raise typer.Exit(code)
