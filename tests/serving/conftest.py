"""Real models for the serving tests: small scikit-learn pipelines fitted on the breast cancer
(binary, with a text column and missing values) and diabetes (regression) datasets shipped with
scikit-learn, saved as model.joblib + schema.json exactly as training/train/train.py leaves them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.contract import MODEL_FILE, SCHEMA_FILE
from training.data.schema import coerce_features, infer_schema
from training.jsonio import write_json

CLASSIFICATION_TARGET = "diagnosis_benign"
REGRESSION_TARGET = "progression"


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path
    frame: pd.DataFrame
    """The labelled data (target included), as training read it."""
    target: str

    @property
    def features(self) -> pd.DataFrame:
        return self.frame.drop(columns=self.target)


def cancer_frame() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame
    frame = frame.rename(columns={"target": CLASSIFICATION_TARGET})
    frame.insert(3, "size_band", pd.qcut(frame["mean radius"], 3,
                                         labels=["small", "medium", "large"]).astype(str))
    frame.loc[frame.index[::10], "mean texture"] = np.nan
    return frame


def diabetes_frame() -> pd.DataFrame:
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": REGRESSION_TARGET})
    frame["sex"] = np.where(frame["sex"] > 0, "male", "female")
    return frame


def fit_and_save(frame: pd.DataFrame, target: str, problem_type: str, estimator,
                 model_dir: Path) -> TrainedModel:
    schema = infer_schema(frame, target, problem_type)
    features = coerce_features(frame, schema.features)
    transforms = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), schema.numeric_features),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")),
         schema.categorical_features),
    ])
    pipeline = Pipeline([("transform", transforms), ("model", estimator)])
    pipeline.fit(features, frame[target])
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / MODEL_FILE)
    write_json(model_dir / SCHEMA_FILE, schema.to_dict())
    return TrainedModel(model_dir, frame, target)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> TrainedModel:
    return fit_and_save(cancer_frame(), CLASSIFICATION_TARGET, "classification",
                        LogisticRegression(max_iter=2000),
                        tmp_path_factory.mktemp("classifier") / "model")


@pytest.fixture(scope="session")
def regressor(tmp_path_factory) -> TrainedModel:
    return fit_and_save(diabetes_frame(), REGRESSION_TARGET, "regression", Ridge(),
                        tmp_path_factory.mktemp("regressor") / "model")


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1, on a free port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
