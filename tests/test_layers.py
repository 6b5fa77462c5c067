"""The rules that keep the house clean, read from the code's own imports: bayes and storage never
import app or each other; nothing of the product imports research; web pages reach the database
through services only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL = ("select", "insert", "update", "delete", "func", "text", "sql", "and_", "or_")
# package -> the top-level packages (or modules) its files must never import
FORBIDDEN = {
    "bayes": ("app", "storage", "research"),
    "storage": ("app", "bayes", "research"),
    "app": ("research",),  # research uses the product; the product never needs research
    # pages and their flows reach the database through app.services: no ORM model, no query
    "app/web": ("storage.models", *(f"sqlalchemy.{q}" for q in SQL)),
}


def imported(root: Path, path: Path) -> set[str]:
    """Every module name ``path`` (under ``root``) imports, relative ones resolved, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def violations(root: Path, folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """'file: module' for each import under ``root/folder`` of a module in ``forbidden``."""
    found = []
    for path in sorted((root / folder).rglob("*.py")):
        for name in sorted(imported(root, path)):
            if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden):
                found.append(f"{path.relative_to(root)}: {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layers_import_only_downwards(folder: str) -> None:
    assert violations(ROOT, folder, FORBIDDEN[folder]) == []


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    (tmp_path / "bayes" / "inner").mkdir(parents=True)
    (tmp_path / "bayes" / "inner" / "bad.py").write_text(
        "import numpy\nfrom storage.models import Galaxy\n"
    )
    (tmp_path / "bayes" / "inner" / "fine.py").write_text("from . import bad\n")
    (tmp_path / "app" / "web").mkdir(parents=True)
    (tmp_path / "app" / "web" / "page.py").write_text(
        "from sqlalchemy.orm import Session\n"
        "def f():\n    from sqlalchemy import select\n    from ..services import queues\n"
    )
    assert violations(tmp_path, "bayes", FORBIDDEN["bayes"]) == [
        "bayes/inner/bad.py: storage.models",
        "bayes/inner/bad.py: storage.models.Galaxy",
    ]
    assert violations(tmp_path, "app/web", FORBIDDEN["app/web"]) == [
        "app/web/page.py: sqlalchemy.select",
    ]  # a Session to pass to a service is fine; a query is not
