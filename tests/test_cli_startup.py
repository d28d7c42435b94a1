"""The CLI starts at once: importing it loads no model or tracking library, and --help and
--version answer without them (start-up time itself is measured in bench/startup.py)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch", "mlflow", "bentoml", "sentence_transformers", "lightgbm", "sklearn",
    "numpy", "sqlalchemy", "pydantic_settings",
    # typer's rich help panels pull rich's Markdown and traceback machinery (~0.1 s);
    # tables and progress bars load in the commands that draw them
    "typer.rich_utils", "rich.markdown", "rich.traceback", "rich.table", "rich.progress",
    "requests", "arxiv",
)  # fmt: skip


def _modules_after(code: str) -> dict[str, bool]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_library():
    loaded = _modules_after("import paperrec.cli")
    assert not any(loaded.values()), [name for name, yes in loaded.items() if yes]


def test_help_and_version_load_no_heavy_library():
    for args in (["--help"], ["--version"], ["user", "--help"], ["digest", "--help"]):
        code = (
            "import sys\nfrom paperrec.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit:\n    pass"
        )
        loaded = _modules_after(code)
        assert not any(loaded.values()), (args, [name for name, yes in loaded.items() if yes])


def test_version_prints_the_package_version():
    from paperrec import __version__

    result = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"paperrec {__version__}"


def test_serving_never_imports_mlflow():
    loaded = _modules_after("import paperrec.serving.predictor, paperrec.serving.holder")
    assert not loaded["mlflow"]
