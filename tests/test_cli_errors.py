"""Every CLI command against bad paths and bad environments: one line, non-zero, no traceback.

The matrix runs each command in-process (typer's CliRunner) with PAPERREC_HOME a file, a
read-only directory, a corrupted or non-SQLite database, an unknown database URL scheme,
and with ``-o`` / ``--out`` / ``--output`` / ``--gold`` pointing at a directory, under a
file, into a read-only place or at nothing. A command that fails must say why on one
line and exit non-zero; an exception escaping to the runner is a traceback for a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperrec.cli import app

ROW = {"id": "2401.00001", "title": "Sparse attention", "abstract": "We study attention."}


@pytest.fixture(scope="module")
def readonly_dir(tmp_path_factory):
    """A directory nobody may write into: a read-only tmpfs as root, else mode 0555."""
    path = tmp_path_factory.mktemp("readonly")
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only directory as root: {done.stderr.decode().strip()}")
    yield path
    subprocess.run(["umount", str(path)], check=False)


@pytest.fixture()
def places(tmp_path, readonly_dir) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROW) + "\n")
    corrupt = tmp_path / "corrupt-home"
    corrupt.mkdir()
    (corrupt / "paperrec.sqlite").write_bytes(b"this is not an SQLite database\n" * 64)
    return {
        "file": a_file,
        "rows": rows,
        "dir": tmp_path,
        "under_file": a_file / "out.jsonl",
        "readonly": readonly_dir / "out",
        "missing": tmp_path / "missing" / "gold.jsonl",
        "corrupt_home": corrupt,
    }


# Commands that read the store: each must fail cleanly when the store cannot be opened.
STORE_COMMANDS = [
    ["stats"],
    ["user", "list"],
    ["user", "add", "ada", "--email", "ada@example.org"],
    ["user", "export", "ada"],
    ["user", "delete", "ada", "--yes"],
    ["user", "key", "--admin"],
    ["feedback", "ada", "2401.00001", "up"],
    ["recommend", "ada"],
    ["digest", "--dry-run"],
    ["embed"],
    ["ingest", "{rows}"],
]
BAD_ENVIRONMENTS = {
    "home is a file": lambda p: {"PAPERREC_HOME": str(p["file"])},
    "home is read-only": lambda p: {"PAPERREC_HOME": str(p["readonly"].parent / "home")},
    "corrupted database": lambda p: {"PAPERREC_HOME": str(p["corrupt_home"])},
    "database is a directory": lambda p: {"PAPERREC_DATABASE_URL": f"sqlite:///{p['dir']}"},
    "unknown URL scheme": lambda p: {"PAPERREC_DATABASE_URL": "nosuchdb://host/paperrec"},
    "bad setting": lambda p: {"PAPERREC_INGEST_BATCH_SIZE": "many"},
}

# Commands that write a file the user named: each bad target is refused in one line,
# before any work is done (no model is loaded here, and none is needed to say so).
FILE_TARGETS = ["dir", "under_file", "readonly"]
OUTPUT_COMMANDS = [
    (["score", "{rows}", "-o", "{target}"], FILE_TARGETS),
    (["rank", "--profile", "{rows}", "--candidates", "{rows}", "-o", "{target}"], FILE_TARGETS),
    (["user", "export", "ada", "-o", "{target}"], FILE_TARGETS),
    (["digest", "--dry-run", "--out", "{target}"], ["file", "under_file", "readonly"]),
]
OUTPUT_CASES = [(args, target) for args, targets in OUTPUT_COMMANDS for target in targets]


def _check(result, *, command) -> None:
    output = result.output
    assert "Traceback" not in output, f"{command}: {output}"
    assert isinstance(result.exception, SystemExit) or result.exception is None, (
        f"{command}: {result.exception!r} escaped: {output}"
    )
    assert result.exit_code != 0, f"{command}: exit 0: {output}"
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, f"{command}: expected one error line, got: {output}"


def _fill(args, **values) -> list[str]:
    return [a.format(**{k: str(v) for k, v in values.items()}) for a in args]


@pytest.mark.parametrize("env_name", list(BAD_ENVIRONMENTS))
@pytest.mark.parametrize("args", STORE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_store_commands_in_a_bad_environment(args, env_name, places, home, monkeypatch):
    for key, value in BAD_ENVIRONMENTS[env_name](places).items():
        monkeypatch.setenv(key, value)
    command = _fill(args, rows=places["rows"])
    result = CliRunner().invoke(app, command)
    _check(result, command=f"{env_name}: {' '.join(command)}")


@pytest.mark.parametrize(
    "args, target", OUTPUT_CASES, ids=[f"{a[0]} {a[1]}-{t}" for a, t in OUTPUT_CASES]
)
def test_output_into_a_bad_place(args, target, places, home):
    command = _fill(args, rows=places["rows"], target=places[target])
    result = CliRunner().invoke(app, command)
    _check(result, command=" ".join(command))


def test_evaluate_with_a_missing_gold_file(places, home):
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(places["missing"])])
    _check(result, command="evaluate --gold")


def test_serve_on_a_port_in_use(home):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    _check(result, command="serve")
    assert "in use" in result.output


def test_a_real_process_prints_no_traceback(places, home):
    """The installed entry point, once, as a user runs it (CliRunner shares the process)."""
    env = {**os.environ, "PAPERREC_HOME": str(places["file"])}
    done = subprocess.run(
        [sys.executable, "-m", "paperrec.cli", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


# -- smaller ones (issue 13, item 9) -----------------------------------------------------
@pytest.mark.parametrize(
    "path, says",
    [
        ("{empty}", "sources in this folder"),
        ("/dev/null", "not a regular file"),
        ("{gone}", "no such source file or folder"),
    ],
)
def test_ingest_says_what_is_wrong_with_a_path(path, says, places, home):
    (places["dir"] / "empty").mkdir()
    target = path.format(empty=places["dir"] / "empty", gone=places["missing"])
    result = CliRunner().invoke(app, ["ingest", target])
    _check(result, command=f"ingest {target}")
    assert says in result.output


@pytest.mark.parametrize("name", ["a/b", "a\\b", "a\nb", "x" * 300, " ", "_under", "tab\tname"])
def test_user_names_follow_one_rule(name, home):
    result = CliRunner().invoke(app, ["user", "add", name, "--email", "a@example.org"])
    _check(result, command="user add")
    assert "user name" in result.output


def test_digest_file_names_of_different_users_never_collide():
    import datetime as dt

    from paperrec.digest.files import file_stem

    day = dt.date(2024, 3, 8)
    names = ["zoë", "zo_", "zo", "Ada", "ada", "a.b", "a@b", "a+b"]
    stems = {file_stem(name, day) for name in names}
    assert len(stems) == len(names)
    assert file_stem("ada", day) == "2024-03-08-ada"


def test_output_to_a_device_a_fifo_or_a_symlink_never_replaces_it(tmp_path):
    """-o /dev/null as root would replace /dev/null; a copy of it is tested here."""
    import stat

    from paperrec.store.files import write_output

    device = tmp_path / "null"
    if os.geteuid() == 0:  # a device node of our own, the same device as /dev/null
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "real.jsonl"
    target.write_text("old\n")
    target.chmod(0o640)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    if device.exists():
        write_output(device, "scores\n")
        assert stat.S_ISCHR(device.stat().st_mode)
    import threading

    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_output(fifo, "into the pipe\n")
    reader.join(10)
    assert received == ["into the pipe\n"] and stat.S_ISFIFO(fifo.stat().st_mode)
    write_output(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the file keeps its permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["fifo", "link.jsonl", "real.jsonl"] + (["null"] if device.exists() else [])
    )  # no temporary file left behind


def test_score_to_a_symlinked_device_writes_into_it(tmp_path, home):
    """What the CLI does with -o pointing at a character device through a link."""
    import stat

    from paperrec.store.files import check_output, write_output

    link = tmp_path / "out.jsonl"
    link.symlink_to("/dev/null")
    check_output(link)
    write_output(link, "x\n")
    assert link.is_symlink() and stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_serve_refuses_a_short_token_secret(home, monkeypatch):
    import socket

    monkeypatch.setenv("PAPERREC_TOKEN_SECRET", "short")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    _check(result, command="serve")
    assert "is 5 bytes; at least 32" in result.output
