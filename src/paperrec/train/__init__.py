"""Training: each model's fit and its run (``topics_fit.py`` / ``topics_run.py``,
``ranker_fit.py`` / ``ranker_run.py``; a run gathers the stored papers of ``stored.py``,
fits, evaluates, logs and registers), the retrain run (``retrain.py``, its config
``retrain_config.py`` and data snapshot ``snapshot.py``), the promotion gate (``gate.py``),
promotion and rollback (``promotion.py``), model cards (``cards.py``), tracking and the
MLflow registry (``registry.py``, with the pyfunc wrapper ``mlflow_model.py``).

Only this package imports MLflow.
"""
