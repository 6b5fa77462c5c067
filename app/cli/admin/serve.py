"""``galactive serve``: the web app, as ``streamlit run app/web/main.py`` on this database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from app.cli.common import ready
from app.config import Settings
from app.services.followup.admin import MAX_UPLOAD_BYTES

MAIN = Path(__file__).resolve().parents[2] / "web" / "main.py"


def streamlit_command(settings: Settings, *, port: int, host: str) -> tuple[list[str], dict]:
    """The ``streamlit run`` argv and environment for the app on ``host:port``: headless, no
    usage statistics, no file watching, errors shown to users without tracebacks, and the
    server refusing any uploaded file over the follow-up page's limit (Streamlit's default
    is 200 MB; the uploader's own ``max_upload_size`` is checked only in the browser)."""
    argv = [
        sys.executable, "-m", "streamlit", "run", str(MAIN),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        "--browser.gatherUsageStats", "false",
        "--client.showErrorDetails", "none",
        "--client.toolbarMode", "viewer",
        "--server.maxUploadSize", str(MAX_UPLOAD_BYTES // 2**20),
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
    argv, env = streamlit_command(settings, port=port, host=host)
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
