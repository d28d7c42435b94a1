"""The ranker's training run, behind ``paperrec train ranker``: training queries from real
authors (and pseudo-users), the fit (`paperrec.train.ranker_fit`), evaluation on every
protocol beside the baselines, the scorer decision (the learned ranker, or the best plain
baseline where the ranker does not beat it), MLflow logging and the registry."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperrec import bundles
from paperrec.errors import InputError, ModelNotTrainedError
from paperrec.evaluate.ranking import (
    author_queries,
    evaluate_queries,
    one_paper_queries,
    pool_user_queries,
    relative_gain,
    seed_page_queries,
)
from paperrec.papers.sources import read
from paperrec.recommend.authors import AuthorUser, author_users, split_authors
from paperrec.recommend.corpus import Corpus
from paperrec.recommend.features import FEATURE_NAMES
from paperrec.recommend.model import FALLBACKS, LEARNED, RankingModel
from paperrec.recommend.pseudo_users import PseudoUser, Query
from paperrec.runtime import Runtime
from paperrec.topics.model import TopicModel
from paperrec.train import registry, tracking
from paperrec.train.ranker_fit import (
    RankerTrainingConfig,
    corpus_users,
    fit_featurizer,
    fit_lexical,
    fit_ranking_model,
    split_users,
)
from paperrec.train.stored import Progress, corpus

MAX_EVAL_USERS = 40
FLOOR_BASELINE = "zotero-arxiv-daily"  # no shipped ranking may be worse than this
MIN_FEEDBACK_VOTES = 10


def feedback_queries(runtime: Runtime, papers: Sequence) -> list[Query]:
    """One query per stored user with enough votes on papers shown to them: the profile is
    what they liked otherwise, the candidates are the rated papers, relevance their vote."""
    from paperrec.users.ranking_profile import user_profile

    index = {p.id: i for i, p in enumerate(papers)}
    queries = []
    for name in runtime.store.users.names():
        profile = user_profile(runtime.store, name)
        liked_shown = [pid for pid in profile.liked_ids if pid in profile.shown]
        negative = [pid for pid in (*profile.disliked, *profile.dismissed) if pid in profile.shown]
        rated = [(pid, 1.0) for pid in liked_shown] + [(pid, 0.0) for pid in negative]
        rated = [(index[pid], vote) for pid, vote in rated if pid in index]
        base = [
            index[pid] for pid in profile.liked_ids if pid not in set(liked_shown) and pid in index
        ]
        votes = [vote for _, vote in rated]
        if len(rated) < MIN_FEEDBACK_VOTES or not base or min(votes) == max(votes):
            continue
        queries.append(
            Query(
                f"user:{name}",
                np.array(base),
                np.zeros(0, int),
                np.array([i for i, _ in rated]),
                np.array(votes),
            )
        )
    return queries


@dataclass
class RankerRunResult:
    run_id: str
    version: str | None  # None: not registered
    promoted: bool
    summary: dict
    evaluation: dict
    model: RankingModel


def load_topic_model(runtime: Runtime) -> TopicModel | None:
    """The champion topic model, or None when none is trained yet."""
    try:
        return TopicModel.load(bundles.champion(runtime.settings, "topics")[0])
    except ModelNotTrainedError:
        return None


def page_users(papers: Sequence, pages: Sequence[Path]) -> list[PseudoUser]:
    """One pseudo-user per HF page file, members located in the corpus by title."""
    index = {p.title_key: i for i, p in enumerate(papers)}
    users = []
    for path in pages:
        found = read(path, "hf-page", noun="page").papers
        members = sorted({index[p.title_key] for p in found if p.title_key in index})
        if len(members) < 15:
            raise InputError(
                f"{path}: only {len(members)} of its papers are in the store; ingest the page first"
            )
        users.append(PseudoUser(f"page:{Path(path).stem}", np.array(members)))
    return users


def in_pages(n_papers: int, pages: Sequence[PseudoUser]) -> np.ndarray:
    """(n_papers,) bool: which corpus papers are members of a seed page."""
    member = np.zeros(n_papers, bool)
    for page in pages:
        member[page.members] = True
    return member


def build_corpus(
    runtime: Runtime,
    topic_model: TopicModel | None,
    pages: Sequence[PseudoUser],
    papers,
    X,
    lexical,
) -> Corpus:
    on_page = in_pages(len(papers), pages)
    topics = (
        topic_model.predict_proba(X).astype(np.float32)
        if topic_model
        else np.zeros((len(papers), 0), np.float32)
    )
    return Corpus(list(papers), X, lexical.transform(papers), topics, np.flatnonzero(~on_page))


def split_pool_users(
    data: Corpus, topic_model: TopicModel | None
) -> tuple[list[PseudoUser], list[PseudoUser]]:
    """Corpus pseudo-users (phrase users, and topic users from ``topic_model``'s labels)
    split by name into (train, test); the test users never train a ranker."""
    if topic_model is None:
        return split_users(corpus_users(data, None, (), [], []))
    topics = topic_model.taxonomy.topics
    fine = [i for i, t in enumerate(topics) if not t.is_area]
    areas = [i for i, t in enumerate(topics) if t.is_area]
    labels = topic_model.classifier.predict(data.X)
    return split_users(corpus_users(data, labels, topic_model.topic_ids, fine, areas))


def split_corpus_authors(data: Corpus) -> tuple[list[AuthorUser], list[AuthorUser]]:
    """Researchers of the corpus background, split by name into (train, test)."""
    return split_authors(author_users(data.papers, data.background))


def choose_scorer(author_result: dict) -> str:
    """``learned`` when the ranker beats zotero-arxiv-daily's cosine on the author
    protocol in both nDCG@10 and pairwise accuracy. Otherwise the best (by nDCG@10) of the
    plain baselines ranking can compute itself that is at least zotero's equal on both,
    so no worse ranking ships."""
    methods = author_result["methods"]
    gated = ("ndcg@10", "pairwise")
    reference = methods[FLOOR_BASELINE]
    if all(methods["ranker"][m]["mean"] > reference[m]["mean"] for m in gated):
        return LEARNED
    fit = [
        b
        for b in FALLBACKS
        if b in methods and all(methods[b][m]["mean"] >= reference[m]["mean"] for m in gated)
    ]
    return max(fit, key=lambda b: methods[b]["ndcg@10"]["mean"])


def pool_queries(data: Corpus, test_users: Sequence[PseudoUser]) -> list[Query]:
    """The pool-user evaluation queries: at most MAX_EVAL_USERS held-out users."""
    return pool_user_queries(data, list(test_users)[:MAX_EVAL_USERS])


def train_ranker(
    runtime: Runtime,
    *,
    pages: Sequence[Path] = (),
    config: RankerTrainingConfig | None = None,
    draws: int = 5,
    register: bool = True,
    promote: bool = True,
    progress: Progress = None,
    topic_model: TopicModel | None = None,
) -> RankerRunResult:
    """Train on corpus pseudo-users (+ seed pages), evaluate every protocol, log, and unless
    ``register`` is False register the model (and with ``promote`` make it the champion).

    ``topic_model`` gives the topic features (default: the champion, if there is one);
    ``paperrec retrain`` passes the topic model it has just trained.
    """
    if promote and not register:
        raise ValueError("a ranker that is not registered cannot be promoted")
    config = config or RankerTrainingConfig()
    papers, X = corpus(runtime, progress)
    topic_model = topic_model or load_topic_model(runtime)
    page_list = page_users(papers, pages)
    on_page = in_pages(len(papers), page_list)
    background_papers = [p for p, paged in zip(papers, on_page, strict=True) if not paged]
    lexical = fit_lexical(background_papers, config)
    data = build_corpus(runtime, topic_model, page_list, papers, X, lexical)
    topic_ids = topic_model.topic_ids if topic_model else ()
    train_users, test_users = split_pool_users(data, topic_model)
    train_authors, test_authors = split_corpus_authors(data)
    featurizer = fit_featurizer(data, config)
    model_id = runtime.embedder.model_id

    from_feedback = feedback_queries(runtime, papers)

    def fit(users):
        return fit_ranking_model(
            data,
            users,
            config,
            model_id,
            topic_ids,
            featurizer,
            lexical,
            from_feedback,
            train_authors,
        )

    final = fit(train_users + page_list)
    evaluation: dict = {}
    by_author = author_queries(data, test_authors)
    if by_author:
        evaluation["authors"] = evaluate_queries(by_author, data, lambda q: final)
        evaluation["authors_one_paper"] = evaluate_queries(
            one_paper_queries(by_author), data, lambda q: final
        )
        final.scorer = choose_scorer(evaluation["authors"])
    if page_list:
        # Leave one page out: the page being measured never trained the ranker measuring it.
        held_out = {
            page.name: fit(train_users + [p for p in page_list if p.name != page.name])
            for page in page_list
        }
        queries = seed_page_queries(data, page_list, draws=draws)
        evaluation["seed_pages"] = evaluate_queries(queries, data, lambda q: held_out[q.user])
    pool = pool_queries(data, test_users)
    evaluation["pool_users"] = evaluate_queries(pool, data, lambda q: final)
    final.summary.update(
        {
            "topic_model": bool(topic_model),
            "n_pages": len(page_list),
            "n_test_users": len(pool),
            "n_test_authors": len(by_author),
            "scorer": final.scorer,
        }
    )
    settings = runtime.settings
    with tracking.tracked_run(settings, "paperrec-ranker", "train-ranker") as run:
        tracking.log_params(
            {"training": config.as_dict(), "draws": draws, "pages": [str(p) for p in pages]}
        )
        for protocol, result in evaluation.items():
            for method, metrics in result["methods"].items():
                tracking.log_metrics(
                    {f"{protocol}.{method}.{m}": v["mean"] for m, v in metrics.items()}
                )
            tracking.log_metrics({f"{protocol}.relative_gain_ndcg10": relative_gain(result)})
        tracking.log_json(evaluation, "evaluation/ranking.json")
        tracking.log_json(
            dict(zip(FEATURE_NAMES, final.ranker.feature_importances_.tolist(), strict=True)),
            "features/importance.json",
        )
        version = None
        if register:
            with tempfile.TemporaryDirectory(dir=settings.ensure_home()) as tmp:
                version = registry.register_bundle(
                    settings, final.save(Path(tmp) / "ranking-model"), registry.RANKER_MODEL
                )
        if promote:
            registry.promote(settings, registry.RANKER_MODEL, version)
    return RankerRunResult(run.info.run_id, version, promote, final.summary, evaluation, final)


def load_ranking_model(runtime: Runtime) -> RankingModel:
    return RankingModel.load(bundles.champion(runtime.settings, "ranker")[0])
