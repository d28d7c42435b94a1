"""Training: topic and ranker pipelines, the retrain run, the promotion gate, tracking and the
MLflow registry (``registry.py``, with the pyfunc wrapper ``mlflow_model.py``).

Only this package imports MLflow.
"""
