"""The pyfunc model MLflow stores for a paperrec bundle ("models from code").

MLflow loads this file to rebuild the model, instead of unpickling a class instance.
``predict`` takes embeddings (n, dim) and returns topic probabilities (topic bundles) or
raises for ranking bundles, which need a profile and are served by paperrec itself.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
from mlflow.models import set_model


class BundleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from paperrec.recommend.model import RankingModel
        from paperrec.topics.model import TopicModel

        path = Path(next(iter(context.artifacts.values())))
        kind = (path / "meta.json").read_text(encoding="utf-8")
        self.bundle = (
            TopicModel.load(path) if "paperrec-topics" in kind else RankingModel.load(path)
        )

    def predict(self, context, model_input: list[list[float]], params=None):
        if not hasattr(self.bundle, "predict_proba"):
            raise TypeError(
                "a ranking bundle ranks profiles; use paperrec.serving.predictor.Predictor.rank"
            )
        return self.bundle.predict_proba(np.asarray(model_input, dtype=np.float32))


set_model(BundleModel())
