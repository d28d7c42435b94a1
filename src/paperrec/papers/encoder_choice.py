"""Which encoder runs: the backend and precision settings resolved on this machine.

``PAPERREC_EMBEDDING_BACKEND`` (auto, torch, onnx, openvino) and
``PAPERREC_EMBEDDING_PRECISION`` (auto, float32, bfloat16, int8) pick the encoder. ``auto``
takes the fastest encoder that passed the quality gate on this machine, as recorded by
``python bench/embed.py --record`` in ``PAPERREC_HOME/encoders/gate.json``; without a
record it takes the documented default, `DEFAULT_ORDER`'s first installed entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from paperrec.errors import InputError

BACKENDS = ("torch", "onnx", "openvino")
PRECISIONS = {
    "torch": ("float32", "bfloat16"),
    "onnx": ("float32", "int8"),
    "openvino": ("float32", "bfloat16", "int8"),
}
# The Python module each backend needs beyond torch.
MODULES = {"torch": "torch", "onnx": "onnxruntime", "openvino": "openvino"}
# Without a gate record, ``auto`` takes the first installed pair that this CPU computes
# natively. Float32 exports (ONNX, OpenVINO) compute torch float32's function but were no
# faster than it per CPU-second where measured (docs/encoders.md), and each needs an export
# and a cache of its own, so only a gate record that says they are faster picks them; int8
# likewise.
DEFAULT_ORDER = (
    ("openvino", "bfloat16"),
    ("torch", "bfloat16"),
    ("torch", "float32"),
)


@dataclass(frozen=True)
class Choice:
    backend: str
    precision: str
    reason: str  # "set", "gate record" or "default"

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.precision}"


@cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def cpu_has_bf16() -> bool:
    """bfloat16 arithmetic in hardware (AMX or AVX512-BF16)."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def machine_id() -> str:
    """What a gate record is valid for: CPU model and instruction set."""
    model = ""
    try:
        model = next(
            (ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
            "",
        )
    except OSError:
        pass
    text = f"{platform.machine()}|{model}|{' '.join(sorted(cpu_flags()))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def installed(backend: str) -> bool:
    return importlib.util.find_spec(MODULES[backend]) is not None


def native(backend: str, precision: str) -> bool:
    """Whether this CPU computes ``precision`` in hardware: bfloat16 needs AMX or
    AVX512-BF16 (elsewhere torch emulates it, several times slower than float32). On an
    AVX512-BF16 CPU without AMX (AMD Zen 4) torch bfloat16 encoded 1.85x float32's rate
    (docs/encoders.md)."""
    if precision != "bfloat16":
        return True
    return cpu_has_bf16()


def gate_path(home: Path) -> Path:
    return home / "encoders" / "gate.json"


def read_gate(home: Path | None, model_name: str) -> list[dict]:
    """Gate results recorded on this machine for ``model_name``, fastest first."""
    if home is None:
        return []
    try:
        record = json.loads(gate_path(home).read_text())
    except (OSError, ValueError):
        return []
    if record.get("machine") != machine_id() or record.get("model") != model_name:
        return []
    results = [r for r in record.get("results", []) if isinstance(r, dict)]
    return sorted(results, key=lambda r: -float(r.get("rate", 0)))


def write_gate(home: Path, model_name: str, results: list[dict]) -> Path:
    """Record gate results (backend, precision, passed, rate) for ``auto`` to read."""
    path = gate_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    record = {"machine": machine_id(), "model": model_name, "results": results}
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(path)
    return path


def check(backend: str, precision: str) -> None:
    """Raise InputError for a pair that does not exist or cannot run here."""
    if precision not in PRECISIONS[backend]:
        raise InputError(
            f"embedding precision {precision!r} is not offered by the {backend} backend; "
            f"valid: {', '.join(PRECISIONS[backend])}"
        )
    if not installed(backend):
        raise InputError(
            f"embedding backend {backend!r} needs the {MODULES[backend]} package; "
            f"install it (pip install {MODULES[backend]}) or choose another backend"
        )
    if backend == "openvino" and precision == "bfloat16" and not cpu_has_bf16():
        raise InputError(
            "openvino bfloat16 needs a CPU with AMX or AVX512-BF16; this one has neither "
            "(choose float32 or int8)"
        )


def choose(backend: str, precision: str, home: Path | None, model_name: str) -> Choice:
    """The encoder for the settings ``backend`` and ``precision`` (each may be "auto")."""
    if backend != "auto" and precision != "auto":
        check(backend, precision)
        return Choice(backend, precision, "set")

    def wanted(b: str, p: str) -> bool:
        return (backend in ("auto", b)) and (precision in ("auto", p))

    for result in read_gate(home, model_name):
        b, p = result.get("backend"), result.get("precision")
        if b in PRECISIONS and p in PRECISIONS[b] and result.get("passed") and wanted(b, p):
            if installed(b) and native(b, p):
                return Choice(b, p, "gate record")
    for b, p in DEFAULT_ORDER:
        if wanted(b, p) and installed(b) and native(b, p) and p in PRECISIONS[b]:
            return Choice(b, p, "default")
    if backend == "auto":  # only int8 asked for, and no gate record says which
        b = "openvino" if installed("openvino") else "onnx"
        check(b, precision)
        return Choice(b, precision, "default")
    # an explicit backend with auto precision: its first listed precision
    check(backend, PRECISIONS[backend][0])
    return Choice(backend, PRECISIONS[backend][0], "default")
