"""Copies of a trained PAPERREC_HOME that stand on their own."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


def relocate_mlflow(db: Path, old_home: Path, new_home: Path) -> None:
    """Point every artifact URI in a copied MLflow database at the copy.

    MLflow stores absolute artifact locations; without this, a run in the copy would
    write its artifacts into the original home.
    """
    old, new = old_home.resolve().as_uri(), new_home.resolve().as_uri()
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" in column[2].upper() or "TEXT" in column[2].upper():
                    name = f'"{column[1]}"'
                    conn.execute(
                        f'UPDATE "{table}" SET {name} = REPLACE({name}, ?, ?) WHERE {name} LIKE ?',
                        (old, new, f"%{old}%"),
                    )
        locations = [r[0] for r in conn.execute("SELECT artifact_location FROM experiments")]
    assert not any(old in str(location) for location in locations), locations


def copy_home_with_registry(source: Path, target: Path) -> Path:
    """A copy of ``source`` whose MLflow runs and models live in the copy."""
    shutil.copytree(source, target)
    relocate_mlflow(target / "mlflow.sqlite", source, target)
    return target
