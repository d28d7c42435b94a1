"""Exported and quantised encoders, built from the local weights and cached under home.

One directory per (model, backend, precision) under ``PAPERREC_HOME/encoders``, named with
a key over everything the files depend on: the model's files, the versions of torch,
transformers, sentence-transformers, onnx, ONNX Runtime, OpenVINO and NNCF, and the export
recipe. A change to any of them gives a new key, so the encoder is rebuilt and the stale
directory removed. A directory is built beside its final place and renamed into it, so a
killed build leaves nothing half-written that a later run would load.

- ONNX: ``torch.onnx.export`` of the transformer with mean pooling and normalisation
  (``model.onnx``); int8 is ONNX Runtime's dynamic quantisation of its weights.
- OpenVINO: the ONNX graph converted to OpenVINO IR (``model.xml``); int8 is NNCF's static
  quantisation calibrated on texts from our own store (the caller passes them).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from paperrec.errors import InputError

RECIPE = 1  # bump when the way a graph is exported or quantised changes
LIBRARIES = (
    "torch",
    "transformers",
    "sentence-transformers",
    "tokenizers",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
)
CALIBRATION_TEXTS = 128  # texts NNCF runs through the model to set int8 ranges
CALIBRATION_BATCH = 16
GRAPH_FILE = {"onnx": "model.onnx", "openvino": "model.xml"}


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def model_fingerprint(model_path: str) -> str:
    """sha256 over the model directory's file names, sizes and config contents."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_path).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(model_path)}:{path.stat().st_size}".encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
    return digest.hexdigest()


def build_key(model_name: str, model_path: str, backend: str, precision: str) -> str:
    """The hash that names an encoder directory: model files + library versions + recipe."""
    meta = {
        "model": model_name,
        "files": model_fingerprint(model_path),
        "backend": backend,
        "precision": precision,
        "libraries": library_versions(),
        "recipe": RECIPE,
    }
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:16]


def slug(model_name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in model_name)


def encoder_dir(
    home: Path,
    model_name: str,
    model_path: str,
    backend: str,
    precision: str,
    calibration: Callable[[], Sequence[str]] | None = None,
) -> Path:
    """The directory holding the ``backend``/``precision`` graph, built now if missing.

    ``calibration`` returns the texts for static int8 quantisation (only called when that
    graph is built). Raises InputError when it returns too few.
    """
    root = home / "encoders"
    prefix = f"{slug(model_name)}-{backend}-{precision}-"
    final = root / (prefix + build_key(model_name, model_path, backend, precision))
    if (final / GRAPH_FILE[backend]).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".building-") as tmp:
        work = Path(tmp)
        build(model_path, backend, precision, work, calibration)
        (work / "build.json").write_text(
            json.dumps({"model": model_name, "libraries": library_versions(), "recipe": RECIPE})
        )
        try:
            work.rename(final)
        except OSError:  # another process finished the same build first
            if not (final / GRAPH_FILE[backend]).is_file():
                raise
        else:
            Path(tmp).mkdir()  # TemporaryDirectory cleans up the path it made
    for stale in root.glob(prefix + "*"):
        if stale != final:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def build(
    model_path: str,
    backend: str,
    precision: str,
    out: Path,
    calibration: Callable[[], Sequence[str]] | None,
) -> None:
    """Write the graph for ``backend``/``precision`` into ``out``."""
    if backend == "onnx":
        if precision == "int8":
            export_onnx(model_path, out / "float32.onnx")
            quantize_onnx_dynamic(out / "float32.onnx", out / "model.onnx")
            (out / "float32.onnx").unlink()
        else:
            export_onnx(model_path, out / "model.onnx")
        return
    export_onnx(model_path, out / "float32.onnx")
    import openvino as ov

    graph = ov.convert_model(str(out / "float32.onnx"))
    (out / "float32.onnx").unlink()
    if precision == "int8":
        texts = list(calibration() if calibration else [])
        if len(texts) < CALIBRATION_BATCH:
            raise InputError(
                f"openvino int8 needs at least {CALIBRATION_BATCH} stored papers to calibrate "
                f"on ({len(texts)} found); ingest papers first or choose another precision"
            )
        graph = quantize_openvino_static(graph, model_path, texts[:CALIBRATION_TEXTS])
    ov.save_model(graph, str(out / "model.xml"), compress_to_fp16=False)


class _Pooled:
    """The transformer with mean pooling and normalisation, as one torch module."""

    @staticmethod
    def module(transformer):
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.transformer = transformer

            def forward(self, input_ids, attention_mask, token_type_ids):
                hidden = self.transformer(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, dim=-1)

        return Pooled().eval()


def check_mean_pooling(model) -> None:
    """The exported graph pools by mean; refuse a model that pools otherwise."""
    modes = getattr(model[1], "pooling_mode", None)
    if modes not in ("mean", ["mean"], ("mean",)):
        raise InputError("onnx/openvino backends support mean-pooling models only; use torch")


def export_onnx(model_path: str, out: Path) -> None:
    """``torch.onnx.export`` of the float32 model at ``model_path`` (dynamic batch and length)."""
    import torch

    from paperrec.papers.encoders import load_sentence_transformer

    model = load_sentence_transformer(model_path, "float32", None)
    check_mean_pooling(model)
    pooled = _Pooled.module(model[0].auto_model)
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {"batch": 0, "length": 1}
    dynamic = {
        name: {i: n for n, i in axes.items()}
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            pooled,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out),
            input_names=list(dynamic),
            output_names=["sentence_embedding"],
            dynamic_axes={**dynamic, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def quantize_onnx_dynamic(source: Path, out: Path) -> None:
    """int8 weights per output channel, activations quantised per call (no calibration).
    7-bit weights (``reduce_range``) keep AVX2's int8 products from saturating."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source), str(out), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
    )


def quantize_openvino_static(graph, model_path: str, texts: Sequence[str]):
    """NNCF post-training int8 of ``graph``, ranges set on ``texts`` (transformer preset)."""
    import nncf

    from paperrec.papers.encoders import Tokenized, load_tokenizer, model_max_seq_length

    tokenizer = load_tokenizer(model_path, model_max_seq_length(model_path))
    batches = [inputs for _, inputs in Tokenized(tokenizer, texts).batches(CALIBRATION_BATCH)]
    return nncf.quantize(
        graph,
        nncf.Dataset(batches),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(batches),
    )
