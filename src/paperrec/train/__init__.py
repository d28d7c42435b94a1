"""Training pipelines. Only this package (with ``paperrec.registry``) imports MLflow."""
