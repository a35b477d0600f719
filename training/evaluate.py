"""Evaluation job: score the trained model on the test split, in SageMaker's model-metrics shape.

    python3 training/evaluate.py --model-dir /opt/ml/processing/input/model \
        --test-dir /opt/ml/processing/input/test \
        --output-dir /opt/ml/processing/output/evaluation --target COLUMN --problem-type ...

Reads every CSV file under the test folder (each preprocess host's split file). Writes
evaluation.json (read by the pipeline's condition step with JsonGet, e.g.
`classification_metrics.accuracy.value`) and plots: confusion matrix and ROC curve, or
residuals and predicted-vs-actual. Without matplotlib (not in the job image) it writes
evaluation.json alone and says so.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, roc_curve

from training import plots
from training.contract import (
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    EVALUATION_SECTION,
    METRIC_NAMES,
    PROCESSING_MODEL_DIR,
    PROCESSING_OUTPUT_DIR,
    PROCESSING_TEST_DIR,
    ProblemType,
)
from training.data import DatasetSchema, coerce_target, read_csv_folder
from training.jsonio import write_json
from training.model_files import extract_model, load_model
from training.scoring import compute_metrics, predict


def evaluation_document(
    problem_type: ProblemType | str, metrics: dict[str, float]
) -> dict[str, Any]:
    """SageMaker model-metrics JSON: {section: {metric: {"value", "standard_deviation"}}}."""
    problem_type = ProblemType(problem_type)
    return {
        EVALUATION_SECTION[problem_type]: {
            name: {"value": metrics[name], "standard_deviation": "NaN"}
            for name in METRIC_NAMES[problem_type]
        }
    }


def plot_classification(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray,
    classes: Sequence[Any],
    output_dir: Path,
) -> list[Path]:
    """confusion_matrix.png and roc_curve.png (one-vs-rest curves for more than two classes)."""
    labels = [str(c) for c in classes]
    matrix = confusion_matrix(y_true, y_pred, labels=list(classes))
    figure = plots.new_figure(1.2 + 0.6 * len(labels) + 2, 1.2 + 0.6 * len(labels) + 1.5)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix (test)",
    )
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color)
    plots.save_png(figure, output_dir / "confusion_matrix.png")

    figure = plots.new_figure(5, 5)
    axes = figure.subplots()
    positives = classes[1:] if len(classes) == 2 else classes
    for label in positives:
        index = list(classes).index(label)
        is_positive = np.asarray(y_true) == label
        if is_positive.all() or not is_positive.any():
            continue
        fpr, tpr, _ = roc_curve(is_positive, probabilities[:, index])
        axes.plot(fpr, tpr, label=f"{label}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test)")
    axes.legend(loc="lower right", title="positive class")
    plots.save_png(figure, output_dir / "roc_curve.png")
    return [output_dir / "confusion_matrix.png", output_dir / "roc_curve.png"]


def plot_regression(y_true: np.ndarray, y_pred: np.ndarray, output_dir: Path) -> list[Path]:
    """residuals.png and predicted_vs_actual.png."""
    figure = plots.new_figure()
    axes = figure.subplots()
    axes.scatter(y_pred, y_true - y_pred, s=12, alpha=0.7)
    axes.axhline(0, color="grey", linestyle="--")
    axes.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test)")
    plots.save_png(figure, output_dir / "residuals.png")

    figure = plots.new_figure(5, 5)
    axes = figure.subplots()
    axes.scatter(y_true, y_pred, s=12, alpha=0.7)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axes.plot([low, high], [low, high], color="grey", linestyle="--")
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    plots.save_png(figure, output_dir / "predicted_vs_actual.png")
    return [output_dir / "residuals.png", output_dir / "predicted_vs_actual.png"]


def evaluate(
    model: Any, schema: DatasetSchema, test: pd.DataFrame, output_dir: str | Path
) -> dict[str, Any]:
    """Score `model` on the test frame; write evaluation.json and plots; return the document."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    y_true = coerce_target(test[schema.target], schema).to_numpy()
    y_pred, probabilities = predict(model, test, schema)
    can_plot = plots.available()
    if schema.problem_type is ProblemType.CLASSIFICATION:
        classes = list(model.classes_)
        metrics = compute_metrics(schema.problem_type, y_true, y_pred, probabilities, classes)
        if can_plot:
            plot_classification(y_true, y_pred, probabilities, classes, output_dir)
    else:
        metrics = compute_metrics(schema.problem_type, y_true, y_pred)
        if can_plot:
            plot_regression(y_true, np.asarray(y_pred, dtype=float), output_dir)
    if not can_plot:
        print(plots.SKIPPED_NOTE)
    document = evaluation_document(schema.problem_type, metrics)
    write_json(output_dir / EVALUATION_FILE, document)
    return document


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--model-dir", type=Path, default=Path(PROCESSING_MODEL_DIR))
    parser.add_argument("--test-dir", type=Path, default=Path(PROCESSING_TEST_DIR))
    parser.add_argument(
        "--output-dir", type=Path, default=Path(PROCESSING_OUTPUT_DIR) / EVALUATION_OUTPUT
    )
    parser.add_argument("--target", help="Default: the target the model was trained on.")
    parser.add_argument("--problem-type", choices=[p.value for p in ProblemType])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model, schema = load_model(extract_model(args.model_dir, scratch))
    if args.target is not None and args.target != schema.target:
        raise ValueError(
            f"--target {args.target!r} differs from the model's target {schema.target!r}"
        )
    if args.problem_type is not None and args.problem_type != schema.problem_type.value:
        raise ValueError(
            f"--problem-type {args.problem_type!r} differs from the model's "
            f"{schema.problem_type.value!r}"
        )
    document = evaluate(model, schema, read_csv_folder(args.test_dir), args.output_dir)
    print(f"wrote {args.output_dir / EVALUATION_FILE}: {document}")
    return document


if __name__ == "__main__":
    main()
