"""Profile and Evaluate time on the default dataset and on a 300-class dataset.

    python bench/eda_eval.py [--classes 300] [--rows-per-class 20] [--keep DIR]

Runs the real job functions in process, with plots (matplotlib installed), as `mlops up
--local` runs them: Profile (alerts, report, baseline) on the data; Preprocess; Train
(gradient boosting on the default data; `linear` on the 300 classes, since gradient boosting
fits one tree per class and round and is not what this measures); Evaluate (model, baseline,
per-class scores, calibration, permutation importance, capped plots). Prints seconds per step
and the size of evaluation.json, evaluation.html and confusion_matrix.png.

The issue's numbers before this change: 300 classes gave a 6.9 MB confusion matrix and a
110 s Evaluate.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.contract import EVALUATION_FILE  # noqa: E402
from training.data import preprocess  # noqa: E402
from training.data.schema import read_csv_folder  # noqa: E402
from training.eda import profile  # noqa: E402
from training.evaluate import evaluate  # noqa: E402
from training.train import train  # noqa: E402
from training.train.model_files import load_model  # noqa: E402


def default_data() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def many_classes(classes: int, rows_per_class: int, seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=classes * rows_per_class, n_features=20,
                               n_informative=12, n_redundant=4, n_classes=classes,
                               n_clusters_per_class=1, class_sep=2.0, random_state=seed)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["target"] = [f"class_{label:03d}" for label in y]
    return frame


def timed(step: str, results: dict[str, float], function, *args, **kwargs):
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        value = function(*args, **kwargs)
    results[step] = time.perf_counter() - started
    return value


def run(name: str, frame: pd.DataFrame, estimator: str, root: Path) -> dict[str, object]:
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    data.mkdir()
    frame.to_csv(data / "data.csv", index=False)
    raw = read_csv_folder(data)
    seconds: dict[str, float] = {}
    timed("profile", seconds, profile.profile_dataframe, raw, "target", "classification",
          root / "report", root / "baseline")
    timed("preprocess", seconds, preprocess.preprocess, raw, "target", "classification",
          root / "processed")
    timed("train", seconds, train.main, [
        "--train", str(root / "processed" / "train"),
        "--validation", str(root / "processed" / "validation"),
        "--transform", str(root / "processed" / "transform"),
        "--model-dir", str(root / "model"), "--estimator", estimator])
    model, schema = load_model(root / "model")
    test = read_csv_folder(root / "processed" / "test")
    document = timed("evaluate", seconds, evaluate.evaluate, model, schema, test,
                     root / "evaluation")
    sizes = {file: (root / "evaluation" / file).stat().st_size
             for file in (EVALUATION_FILE, evaluate.EVALUATION_REPORT_FILE,
                          "confusion_matrix.png")
             if (root / "evaluation" / file).exists()}
    gate = document["gate"]
    return {"dataset": name, "rows": len(frame), "classes": frame["target"].nunique(),
            "estimator": estimator, **{f"{k}_s": round(v, 2) for k, v in seconds.items()},
            **{f"{k}_bytes": v for k, v in sizes.items()},
            "gate": f"{gate['metric']} {gate['model']:.4f} vs baseline {gate['baseline']:.4f}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--rows-per-class", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="eda-eval-")) if args.keep is None else args.keep
    try:
        results = [
            run("breast_cancer (default)", default_data(), "gradient_boosting",
                scratch / "default"),
            run(f"make_classification, {args.classes} classes",
                many_classes(args.classes, args.rows_per_class), "linear",
                scratch / "many"),
        ]
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    for result in results:
        print(" ".join(f"{key}={value}" for key, value in result.items()))


if __name__ == "__main__":
    main()
