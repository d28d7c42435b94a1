"""Import arrows between packages that must point one way (src/paperrec/__init__.py):
the digest builds on serving, and the web app on both, so serving imports neither and
nothing in the package imports the web app (only the service mounts it)."""

from __future__ import annotations

import ast
from pathlib import Path

import paperrec

ROOT = Path(paperrec.__file__).parent


def imported_packages(package: str) -> dict[str, set[str]]:
    """{module file: paperrec packages it imports} for every module of ``package``."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[str(path.relative_to(ROOT))] = {
            n.split(".")[1] for n in names if n.startswith("paperrec.")
        }
    return found


def test_serving_imports_neither_the_digest_nor_the_web_app():
    upward = {
        module: sorted(packages & {"digest", "web"})
        for module, packages in imported_packages("serving").items()
        if packages & {"digest", "web"}
    }
    assert upward == {}


def test_only_the_web_app_imports_itself():
    others = [p.name for p in ROOT.iterdir() if p.is_dir() and p.name not in ("web", "__pycache__")]
    importers = [
        module
        for package in others
        for module, imported in imported_packages(package).items()
        if "web" in imported
    ]
    assert importers == []
