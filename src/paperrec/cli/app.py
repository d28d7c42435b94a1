"""The typer app, its error handling and the shared runtime.

Start-up stays fast: this module and the command modules import only typer, rich's console
and small paperrec modules at the top; torch, MLflow, BentoML, scikit-learn and LightGBM are
imported inside the commands that use them, and so are rich's tables and progress bars
(``tests/test_cli_startup.py`` checks). Help is click's plain layout: typer's rich panels
import rich's Markdown and traceback machinery (about 0.1 s) before printing a line.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from paperrec import __version__
from paperrec.errors import PaperrecError

if TYPE_CHECKING:
    from pydantic import ValidationError
    from rich.progress import Progress
    from rich.table import Table

    from paperrec.runtime import Runtime

app = typer.Typer(
    name="paperrec",
    help="Self-hosted arXiv paper recommender: ingest, train, evaluate, recommend, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(stderr=True)
out = Console()


def _print_version(value: bool) -> None:
    if value:
        out.print(f"paperrec {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Self-hosted arXiv paper recommender: ingest, train, evaluate, recommend, serve."""


def fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handles_errors(func):
    """Turn expected failures into one readable line and a non-zero exit.

    Library errors (PaperrecError) carry their own message. The file system and SQLite
    can still fail where no library code expected it (a disk that fills up, a read-only
    or corrupted file met half-way); those are one line too, never a traceback.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PaperrecError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except sqlite3.Error as exc:
            from paperrec.store.db import describe_database_error

            raise fail(describe_database_error(exc)) from None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            if not _is_validation_error(exc):
                raise
            raise fail(bad_settings(exc)) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise fail(f"{where}{(exc.strerror or str(exc)).lower()}") from None

    return wrapper


def _is_validation_error(exc: BaseException) -> bool:
    """Whether ``exc`` is pydantic's ValidationError, without importing pydantic at start-up
    (if pydantic was never imported, nothing can have raised it)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


def bad_settings(exc: ValidationError) -> str:
    """One line naming each environment variable whose value is wrong."""
    problems = "; ".join(
        f"PAPERREC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
    )
    return f"bad setting: {problems}"


# ``--ray [ADDRESS]`` of the bulk commands (embed, score, backfill).
RAY_ALONE = ""  # the value of a bare ``--ray``: Ray's own choice of cluster
RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="[ADDRESS]",
        help="spread the work over Ray (needs paperrec[ray]; docs/scaling.md): alone, the "
        "cluster at RAY_ADDRESS, else a Ray started on this machine's cores; with an "
        "ADDRESS, that cluster (ray://HEAD:10001, HEAD:6379, auto or local)",
    ),
]
# Options that may stand without their value, and the value they then take.
OPTIONAL_VALUES = {"--ray": RAY_ALONE}


class Command(TyperCommand):
    """A typer command whose `OPTIONAL_VALUES` options may stand alone (``--ray`` as the
    last word or before another option) or take a value (``--ray ADDRESS``), as Click's
    ``is_flag=False, flag_value=...`` options do. typer >= 0.26 vendors Click without that
    feature (``is_flag`` and ``flag_value`` are ignored there, with a DeprecationWarning),
    so a bare occurrence is handed to the parser as ``--ray=`` plus its value."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, with_optional_values(args))


def with_optional_values(args: list[str]) -> list[str]:
    """``args`` with each bare `OPTIONAL_VALUES` option given its value; a word after the
    option is its value unless it starts with ``-`` (everything after ``--`` is left)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else "-"
        if arg in OPTIONAL_VALUES and following.startswith("-"):
            arg = f"{arg}={OPTIONAL_VALUES[arg]}"
        out.append(arg)
    return out


def ray_options(value: str | None) -> dict:
    """`paperrec.bulk.jobs.Runner`'s ``ray`` and ``address`` for a ``--ray`` value (None:
    not given; `RAY_ALONE`: Ray's own choice of cluster)."""
    return {"ray": value is not None, "address": value or None}


def command(*args, group: typer.Typer | None = None, **kwargs):
    """``group.command`` (default: the top-level app) with error handling applied."""

    def decorate(func):
        kwargs.setdefault("cls", Command)
        return (group or app).command(*args, **kwargs)(handles_errors(func))

    return decorate


def subgroup(name: str, help: str) -> typer.Typer:
    """A command group such as ``paperrec train ...``."""
    group = typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(group, name=name)
    return group


def new_table(*, simple: bool = False, **kwargs) -> Table:
    """A rich Table (``simple``: a rule under the header only, no frame)."""
    from rich import box
    from rich.table import Table

    if simple:
        kwargs["box"] = box.SIMPLE_HEAD
    return Table(**kwargs)


def progress_bar() -> Progress:
    """A rich bar with count, rate and ETA, drawn on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, from rich's own speed estimate."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.1f}/s", style="cyan")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
    )


def runtime() -> Runtime:
    from paperrec.runtime import Runtime

    return Runtime()


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner with ``message`` on stderr while slow work runs; nothing when stderr is not
    a terminal (pipes and logs stay clean)."""
    if not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def embed_with_bar(rt: Runtime, papers, label: str):
    """Embed ``papers`` with the runtime's embedder behind a progress bar; returns (n, d)."""
    with progress_bar() as bar:
        task = bar.add_task(label, total=len(papers))
        return rt.embedder.embed(papers, progress=lambda n: bar.advance(task, n))


def print_problems(problems, shown: int = 20) -> None:
    """The first ``shown`` records that could not be read, one line each, and how many more."""
    for problem in problems[:shown]:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False, soft_wrap=True)
    if len(problems) > shown:
        console.print(f"[yellow]... and {len(problems) - shown} more problems[/]")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    app()
