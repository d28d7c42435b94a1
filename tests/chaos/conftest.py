"""The chaos suite: faults injected into real processes, files and servers on this machine.

Marked ``chaos`` (run by ``make test`` like every other test; ``-m "not chaos"`` leaves it
out). At the end of a run that included it, the table of faults is printed: how often each
was injected, how many writes were acknowledged, and how many of those were lost or
duplicated.
"""

from __future__ import annotations

from chaos_common import ROWS


def pytest_terminal_summary(terminalreporter) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("chaos table")
    header = ("fault", "runs", "acknowledged writes", "lost", "duplicated")
    width = max(len(header[0]), *(len(r.fault) for r in ROWS))
    write(f"| {header[0]:<{width}} | " + " | ".join(header[1:]) + " |")
    write(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(h) + 2) for h in header[1:]) + "|")
    for row in ROWS:
        cells = (row.runs, row.acknowledged, row.lost, row.duplicated)
        write(
            f"| {row.fault:<{width}} | "
            + " | ".join(f"{c:>{len(h)}}" for c, h in zip(cells, header[1:], strict=True))
            + " |"
        )
