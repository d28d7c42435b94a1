"""Process memory from /proc, shared by the benchmarks (Linux; elsewhere the figures are
missing rather than wrong)."""

from __future__ import annotations

from pathlib import Path


def rss_mib(field: str) -> float | None:
    """A memory field of /proc/self/status in MiB (VmRSS now, VmHWM the peak), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
