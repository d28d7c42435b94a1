"""The predictor the HTTP service uses, kept current.

`PredictorHolder` owns the `Predictor` that requests use and swaps in a new one when the
exported champion changes (`paperrec.bundles`; on demand, or from a background thread every
few seconds).
Model calls go through ``holder.using()``, one at a time; `score` (the /score batcher's call)
runs up to ``score_lanes`` calls side by side when the encoder takes concurrent calls
(OpenVINO's streams: one call's last batches then run beside the next call's first ones),
and otherwise takes the same lock. A ranking of stored papers
(``holder.predictor.recommend``) does not: the papers' arrays and the users' profiles stay
in memory, and only an encode of papers it has not seen takes the same lock. Its `score` is
``Predictor.score`` with the rows of recently scored abstracts kept in memory (keyed by
topic model version and content hash), so a repeated abstract costs neither a cache read
nor a classifier call.
A request takes ``holder.predictor`` once and uses that object to the end, so a swap never
changes models under a running request and no request is dropped. A champion that fails to
load or to predict leaves the old predictor serving; the failure is kept for ``/readyz`` and
that version is not retried until the champion changes again (or a reload is forced).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from paperrec import bundles
from paperrec.errors import ModelNotTrainedError, PaperrecError
from paperrec.papers.embed import EMBEDDING_DIM
from paperrec.papers.rows import InputPaper
from paperrec.runtime import Runtime
from paperrec.serving.predictor import Predictor
from paperrec.serving.profiles import ProfileCache

log = logging.getLogger(__name__)

DEFAULT_CHECK_SECONDS = 30.0
MEMO_ROWS = 20_000  # papers whose ranking arrays stay in memory (about 4 kB each)
MEMO_SIZE = 4096  # topic rows kept for repeated abstracts (about 5 kB each)
# `score` calls side by side when the encoder takes concurrent calls: two keep its streams
# busy between one call's end and the next one's start; more would only split the batches.
SCORE_LANES = 2
_MODELS = ("topics", "ranker")
# The warm-up text: encoding it at start-up loads the model and tokenizer before traffic.
_WARM_UP = "Warm-up. Loads the embedding model before the first request."


@dataclass(frozen=True)
class ReloadOutcome:
    """What a reload did: ``changed`` when a new predictor now serves; ``versions`` in use."""

    changed: bool
    versions: dict[str, str]
    error: str | None = None


class PredictorHolder:
    """Holds the serving `Predictor`; thread-safe. Build with `PredictorHolder.load`.

    Parameters
    ----------
    runtime
        Shared by every predictor it loads: one store, one embedder (and its cache), so a
        reload only reads the two small model bundles.
    loader
        How a predictor is built (``Predictor.load`` by default; tests pass a failing one).
    """

    def __init__(self, runtime: Runtime, loader: Callable[..., Predictor] = Predictor.load):
        self.runtime = runtime
        self.loader = loader
        self.last_error: str | None = None
        self._predictor: Predictor | None = None
        self._failed: dict[str, str] | None = None
        self._lock = threading.Lock()  # one reload at a time
        self._work = threading.RLock()  # one model call at a time (re-entered by encodes)
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._memo: OrderedDict[tuple[str, str], dict] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.score_lanes = 1  # set by `load` from the encoder
        self._lanes = threading.BoundedSemaphore(SCORE_LANES)
        self.profiles = ProfileCache()  # users' profiles, shared by every predictor it loads

    @classmethod
    def load(cls, runtime: Runtime, **kwargs) -> PredictorHolder:
        """The exported champions, checked and warmed up.

        Raises when there is no loadable topic model. A ranker that cannot be loaded is
        reported in ``last_error``; /score works and ranking waits for a loadable one.
        """
        holder = cls(runtime, **kwargs)
        wanted = holder.champions()
        holder._predictor, problem = holder._build(wanted, None)
        if problem:
            holder._failed = wanted
            holder._keep(holder._predictor, problem)
        # Warm-up past every cache: the model loads, and the calling thread's pools
        # (torch's and LightGBM's OpenMP threads) exist before the first request.
        vectors = runtime.embedder.encode_texts([_WARM_UP])
        if holder._predictor.topic_model is not None:
            holder._predictor.topic_model.predict_proba(vectors)
        if runtime.embedder.concurrent_calls:
            holder.score_lanes = SCORE_LANES
        return holder

    @property
    def predictor(self) -> Predictor:
        if self._predictor is None:
            raise ModelNotTrainedError("no models loaded yet")
        return self._predictor

    @property
    def versions(self) -> dict[str, str]:
        return dict(self.predictor.versions)

    @contextmanager
    def using(self) -> Iterator[Predictor]:
        """``with holder.using() as predictor:`` the predictor in use, for one model call at a time
        (the tokenizer is not re-entrant, and one encode already uses every core)."""
        with self._work:
            yield self.predictor

    def recall(self, papers: Sequence[InputPaper]) -> list[dict | None]:
        """Rows of ``papers`` that the predictor in use scored recently; None for the others."""
        return self._recall(self.predictor, papers)

    @contextmanager
    def scoring(self) -> Iterator[Predictor]:
        """As `using`, for `score`: up to ``score_lanes`` at once, and not behind the model
        lock when that is more than one (the encoder takes concurrent calls)."""
        if self.score_lanes == 1:
            with self.using() as predictor:
                yield predictor
        else:
            with self._lanes:
                yield self.predictor

    def score(self, papers: Sequence[InputPaper]) -> list[dict]:
        """``Predictor.score`` rows for ``papers``, in order; repeated abstracts from memory."""
        with self.scoring() as predictor:
            rows = self._recall(predictor, papers)
            missing = [i for i, row in enumerate(rows) if row is None]
            fresh = predictor.score([papers[i] for i in missing]) if missing else []
        version = predictor.versions["topics"]
        with self._memo_lock:
            for i, row in zip(missing, fresh, strict=True):
                rows[i] = row
                self._memo[(version, papers[i].paper.content_hash)] = {
                    k: v for k, v in row.items() if k != "id"
                }  # the row but its id: the same abstract may come with another
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return rows

    def _recall(self, predictor: Predictor, papers: Sequence[InputPaper]) -> list[dict | None]:
        version = predictor.versions["topics"]
        rows: list[dict | None] = []
        with self._memo_lock:
            for paper in papers:
                key = (version, paper.paper.content_hash)
                row = self._memo.get(key)
                if row is not None:
                    self._memo.move_to_end(key)
                rows.append(None if row is None else {"id": paper.id, **row})
        return rows

    def champions(self) -> dict[str, str]:
        """Exported champion versions: topics always, ranker when one was trained.

        Raises ModelNotTrainedError when there is no topic model champion.
        """
        found = bundles.champion_versions(self.runtime.settings)
        if "topics" not in found:
            bundles.champion(self.runtime.settings, "topics")  # raises, saying what to do
        return found

    def _build(
        self, wanted: dict[str, str], current: Predictor | None
    ) -> tuple[Predictor, str | None]:
        """A checked predictor for the ``wanted`` versions, and what could not be loaded.

        The topic model must load and predict, else this raises. A ranker that fails is
        replaced by the one of ``current`` (if any) and named in the returned message.
        """
        predictor = self.loader(self.runtime, topics=True, ranker=False)
        predictor.memo_rows = MEMO_ROWS  # ranking keeps each paper's arrays (serving/arrays.py)
        predictor.profiles = self.profiles  # and each user's profile (serving/profiles.py)
        predictor.encode_lock = self._work  # encoding what is not in memory waits for /score
        # A bundle can load and still be unusable; find out before it serves anyone.
        predictor.topic_model.predict_proba(np.zeros((1, EMBEDDING_DIM), dtype=np.float32))
        if "ranker" not in wanted:
            return predictor, None
        try:
            ranking = self.loader(self.runtime, topics=False, ranker=True)
            predictor.ranking_model = ranking.ranking_model
            predictor.versions["ranker"] = ranking.versions["ranker"]
            predictor.recommender()
            return predictor, None
        except Exception as exc:  # a broken ranker must not take /score down with it
            predictor.ranking_model = current.ranking_model if current else None
            predictor.versions.pop("ranker", None)
            if current is not None and "ranker" in current.versions:
                predictor.versions["ranker"] = current.versions["ranker"]
            return predictor, f"cannot load champion ranker v{wanted['ranker']}: {exc}"

    def refresh(self, force: bool = False) -> ReloadOutcome:
        """Load the champions if they differ from the versions in use.

        A champion that already failed is not tried again unless ``force`` is set or the
        champion changes. Never raises: a failure is returned and kept in ``last_error``.
        """
        with self._lock:
            current = self.predictor
            try:
                wanted = self.champions()
            except PaperrecError as exc:
                return self._keep(current, f"cannot read the champions: {exc}")
            in_use = {name: current.versions.get(name) for name in _MODELS}
            if all(in_use[name] == wanted.get(name) for name in _MODELS):
                self._failed, self.last_error = None, None
                return ReloadOutcome(False, dict(current.versions))
            if wanted == self._failed and not force:
                return ReloadOutcome(False, dict(current.versions), self.last_error)
            try:
                predictor, problem = self._build(wanted, current)
            except Exception as exc:  # any failure of a new model keeps the old one serving
                self._failed = wanted
                return self._keep(
                    current, f"cannot load champion topics v{wanted['topics']}: {exc}"
                )
            changed = predictor.versions != current.versions
            self._predictor, self._failed, self.last_error = predictor, None, None
            if changed:
                log.info("now serving %s", _describe(predictor.versions))
            if problem:
                self._failed = wanted
                return replace(self._keep(predictor, problem), changed=changed)
            return ReloadOutcome(changed, dict(predictor.versions))

    def _keep(self, current: Predictor, message: str) -> ReloadOutcome:
        self.last_error = f"{message}; still serving {_describe(current.versions)}"
        log.warning(self.last_error)
        return ReloadOutcome(False, dict(current.versions), self.last_error)

    def watch(self, every_seconds: float = DEFAULT_CHECK_SECONDS) -> None:
        """Check the exported champions every ``every_seconds`` in a daemon thread until `stop`."""
        if every_seconds <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.refresh()

        self._watcher = threading.Thread(target=loop, name="paperrec-model-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None


def _describe(versions: dict[str, str]) -> str:
    return ", ".join(f"{name} v{versions[name]}" for name in _MODELS if name in versions)
