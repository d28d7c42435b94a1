"""paperrec: tells each researcher which of today's arXiv papers are worth their time.

One package per concept; arrows point down (nothing imports ``cli``)::

    cli/        the ``paperrec`` command line: parses arguments, calls the packages below
    web/        the reader's web app, mounted by the service: a reader's feed (ranked by the
                digest's window and the shared predictor), search, similar papers, and the
                Jinja2 pages over them (nothing in the package imports it)
    train/      retrain pipelines, gate, promotion, the MLflow registry (the MLflow importer)
    bulk/       embed, score and backfill many papers through one batch function, in this
                process or on a Ray cluster (on_ray.py, the only Ray importer)
    evaluate/   topic classifier and ranker measured against baselines
    digest/     who is due, which papers (compose, budget), render, outbox delivery, SMTP
    serving/    the predictor the CLI, the HTTP service, the digest and the web app share; the
                service process; admin overviews
    users/      profiles, seeds and feedback, a reader's library and preferences; sign-in
                links, signed feedback links and API keys
    recommend/  profile features, the learned ranker, baselines, ranking, explanations
    topics/     the taxonomy, weak labeling, the topic classifier and its saved bundle
    papers/     reading papers (sources/: one parser per format, one road from a spec),
                ingesting them, seed lists, input rows, embedding
    store/      the database and the disk: papers (and their full-text index), users, sign-in
                links, digest outbox, embedding cache
    bundles.py  the model boundary: saves, checks and loads bundles; the exported champions
    boosting.py LightGBM arguments shared by the topic classifier and the ranker
    schema.py, config.py, errors.py, runtime.py, offline.py   data types, settings, errors,
                shared objects, the offline environment flags
"""

__version__ = "0.1.0"
