"""A composed digest as files: ``DATE-USER.eml|.html|.md|.json`` (``paperrec digest --out``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from paperrec.digest.due import Planned
from paperrec.digest.mailer import build_message
from paperrec.digest.render import render, render_email
from paperrec.store.files import write_output

EXTENSIONS = {"email": ".eml", "html": ".html", "markdown": ".md", "json": ".json"}


def file_stem(user: str, date: dt.date) -> str:
    """``DATE-USER``; a name that had to be changed to be a file name (``a/b``, ``zoë``)
    gets a short hash of the real name, so two users never share a file."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", user).lstrip(".") or "user"
    if safe != user:
        safe += "-" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:8]
    return f"{date.isoformat()}-{safe}"


def write_digest(
    planned: Planned, formats: Sequence[str], out_dir: Path, sender: str
) -> list[Path]:
    """``<date>-<user>.<ext>`` in ``out_dir`` per format (email: the whole .eml message)."""
    written = []
    for fmt in formats:
        path = out_dir / (file_stem(planned.user, planned.date) + EXTENSIONS[fmt])
        if fmt == "email":
            data = build_message(render_email(planned.content), sender).as_bytes()
        else:
            data = render(planned.content, fmt).encode("utf-8")
        write_output(path, data)
        written.append(path)
    return written
