"""The chaos suite: faults injected into real processes, files and servers on this machine.

Marked ``chaos`` (run by ``make test`` like every other test; ``-m "not chaos"`` leaves it
out). At the end of a run that included it, the table of faults is printed: how often each
was injected, how many writes were acknowledged, and how many of those were lost or
duplicated. The rows travel with each test's report (``chaos_common.REPORT_KEY``), so the
table is whole when the tests ran in several worker processes (pytest-xdist); it is printed
by tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest
from chaos_common import REPORT_KEY, ROWS


@pytest.fixture(autouse=True)
def _report_chaos_rows(request):
    """The rows this test recorded, added to its report."""
    first = len(ROWS)
    yield
    for row in ROWS[first:]:
        request.node.user_properties.append((REPORT_KEY, asdict(row)))
