"""``python -m research``: the research entry point."""

from research.cli import app

app()
