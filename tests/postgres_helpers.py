"""A throwaway PostgreSQL cluster for the tests (not a test module).

`Cluster.start` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/*/bin``, or
the folder ``PAPERREC_TEST_PG_BIN`` names) on a data folder in a new temporary directory;
the server listens only on a Unix socket in that directory (no TCP port at all), trusts
local connections and syncs nothing to disk (fsync off: a test cluster loses nothing it
needs if the machine stops). The server refuses to run as root, so when the tests run as
root it runs as the unprivileged user ``nobody``. Each test gets a database of its own
(`Cluster.new_database`), dropped afterwards; `Cluster.stop` ends the server and removes
the directory. ``PAPERREC_TEST_POSTGRES_URL`` (an admin URL of a server of your own,
``postgresql+psycopg://USER@HOST/postgres``) uses that server instead of starting one.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

UNPRIVILEGED = "nobody"
SERVER_OPTIONS = (
    "-c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)


class NoServer(Exception):
    """Why no PostgreSQL server can be had here (the tests skip with this reason)."""


def find_binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres, newest major version first."""
    candidates = [os.environ.get("PAPERREC_TEST_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else "")
    for folder in filter(None, candidates):
        if all((Path(folder) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    raise NoServer(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin "
        "or on PATH: `make test` installs them (apt-get install postgresql), or set "
        "PAPERREC_TEST_POSTGRES_URL to a server of your own"
    )


def _major(folder: str) -> int:
    version = Path(folder).parent.name
    return int(version) if version.isdigit() else 0


class Cluster:
    """One PostgreSQL server for the test session; see the module docstring."""

    def __init__(
        self, admin_url: str, root: Path | None = None, binaries: Path | None = None,
        run_as: dict | None = None,
    ):  # fmt: skip
        self.admin_url = admin_url
        self.root = root
        self.binaries = binaries
        self._run_as = run_as or {}
        self._names = itertools.count(1)
        self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    @classmethod
    def from_environment(cls) -> Cluster:
        """A server named by PAPERREC_TEST_POSTGRES_URL, or a new one (NoServer if neither)."""
        given = os.environ.get("PAPERREC_TEST_POSTGRES_URL")
        if given:
            return cls(given)
        return cls.start(find_binaries())

    @classmethod
    def start(cls, binaries: Path) -> Cluster:
        run_as = _unprivileged()
        root = Path(tempfile.mkdtemp(prefix="paperrec-pg-"))
        try:
            if run_as:
                os.chown(root, run_as["user"], run_as["group"])
            data, log = root / "data", root / "server.log"
            _run(
                [binaries / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
                 "--locale=C", "--encoding=UTF8"], run_as,
            )  # fmt: skip
            _run(
                [binaries / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                 "-o", f"-k {root} {SERVER_OPTIONS}", "start"], run_as, log=log,
            )  # fmt: skip
        except NoServer:
            shutil.rmtree(root, ignore_errors=True)
            raise
        url = f"postgresql+psycopg://postgres@/postgres?host={root}"
        return cls(url, root, binaries, run_as)

    def new_database(self, template: str = "template0") -> str:
        """The URL of a new database on this server, a copy of ``template`` (by default
        empty; a copy of a database nobody is connected to, see `template_of`)."""
        name = f"paperrec_test_{os.getpid()}_{next(self._names)}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def template_of(self, prepare) -> str:
        """The name of a new database that ``prepare(url)`` has filled (and closed), to copy
        with `new_database`: copying it is faster than building each test's from scratch."""
        url = self.new_database()
        prepare(url)
        return make_url(url).database

    def drop_database(self, url: str) -> None:
        """Drop the database of ``url``, ending any connection still open to it."""
        name = make_url(url).database
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def stop(self) -> None:
        """End the server (if this session started it) and remove its directory."""
        self._admin.dispose()
        if self.root is None or self.binaries is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            _run([self.binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"],
                 self._run_as)  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged() -> dict:
    """subprocess arguments that run a command as ``nobody`` when the tests run as root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        raise NoServer(
            f"the tests run as root and there is no user {UNPRIVILEGED!r} to run PostgreSQL "
            "as (the server refuses to run as root)"
        ) from None
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(command: list, run_as: dict, log: Path | None = None) -> None:
    try:
        subprocess.run(
            [str(part) for part in command], check=True, capture_output=True, text=True,
            timeout=120, cwd="/", **run_as,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        said = getattr(exc, "stderr", "") or ""
        if log is not None and log.exists():
            said += log.read_text(errors="replace")[-2000:]
        raise NoServer(f"could not start PostgreSQL ({exc}): {said.strip()[-2000:]}") from None
