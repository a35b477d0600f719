"""Evaluation job: score the model, a trivial baseline and the champion on the test split.

    python3 training/evaluate/evaluate.py --model-dir /opt/ml/processing/input/model \
        --test-dir /opt/ml/processing/input/test \
        --champion-dir /opt/ml/processing/input/champion \
        --output-dir /opt/ml/processing/output/evaluation --target COLUMN --problem-type ... \
        --gate-metric balanced_accuracy

Reads every CSV file under the test folder (each preprocess host's split file). Writes
evaluation.json in SageMaker's model-metrics shape (``classification_metrics`` or
``regression_metrics``), plus:

- ``baseline_metrics``: each metric for its own trivial baseline, the strongest constant
  predictor of that metric on the test split (`training.train.scoring.constant_predictions`:
  the median for mae, the mean for rmse and r2, the majority class, or for f1 the better of
  majority and minority, with the class shares as probabilities), so it is at least as
  strong as any constant fitted on train;
- ``champion_metrics``: the champion model's (the latest approved one) on the same rows, when
  the champion folder holds a model instead of the NO_CHAMPION marker;
- ``gate``: the gate metric's values and the gaps the quality gate compares with its margins
  (see `training.contract.gate_gap`), since pipeline conditions cannot subtract; whether the
  test split has enough rows to decide (``test_split_sufficient``: MIN_TEST_ROWS_PER_CLASS
  rows of every class, or MIN_TEST_ROWS for regression); and the training data's fingerprint
  next to the champion's (``data_unchanged`` is 1 when they prove the same data), so the
  pipeline's conditions make the decisions and the job only measures;
- ``details``: per-class precision/recall/F1, PR-AUC, the calibration curve, permutation
  importance of the raw input columns, the (capped) confusion matrix and the decision
  threshold inside the model (None: the most probable class), which labels every row here.

evaluation.html shows all of it with plots. Many classes stay fast and readable: the confusion
matrix shows the MAX_MATRIX_CLASSES most frequent classes (the rest pooled as "other"), ROC
curves the MAX_CURVES most frequent, and the report says so. Without matplotlib (not in the
job image) the plots are skipped and the report says so.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file by the container: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
import pandas as pd
from sklearn import metrics as skmetrics
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from threadpoolctl import threadpool_limits

from training import plots
from training.contract import (
    BASELINE_GAP,
    BASELINE_SECTION,
    CHAMPION_COMPARISON,
    CHAMPION_DATA_DIGEST,
    CHAMPION_GAP,
    CHAMPION_GAP_HIGH,
    CHAMPION_GAP_INTERVAL,
    CHAMPION_PRESENT,
    CHAMPION_ROWS,
    CHAMPION_SECTION,
    CHAMPION_SEEN_ROWS,
    DATA_DIGEST,
    DATA_UNCHANGED,
    DEFAULT_SEED,
    EVALUATION_FILE,
    EVALUATION_OUTPUT,
    EVALUATION_SECTION,
    GATE_METRIC_FLAG,
    GATE_SECTION,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    MIN_TEST_ROWS,
    MIN_TEST_ROWS_PER_CLASS,
    MODEL_INTERVAL,
    NO_CHAMPION_FILE,
    PROCESSING_CHAMPION_DIR,
    PROCESSING_MODEL_DIR,
    PROCESSING_OUTPUT_DIR,
    PROCESSING_TEST_DIR,
    SPLITS,
    TEST_ROWS,
    TEST_SPLIT_NOTE,
    TEST_SPLIT_SUFFICIENT,
    ProblemType,
    comparison_verdict,
    gate_gap,
    gate_metric,
)
from training.data.problems import SchemaError
from training.data.schema import DatasetSchema, coerce_features, coerce_target, read_csv_folder
from training.data.splits import SplitRule, assign_splits
from training.evaluate import resampling
from training.jsonio import write_json
from training.lineage import recorded_digest, same_data
from training.train.imbalance import decision_threshold
from training.train.model_files import extract_model, load_model
from training.train.scoring import (
    all_labels,
    baseline_metrics,
    compute_metrics,
    constant_predictions,
    metric_scorer,
    predict,
)

EVALUATION_REPORT_FILE = "evaluation.html"
MAX_MATRIX_CLASSES = 20
"""Classes shown in the confusion matrix; the others are pooled into one "other" row/column."""
MAX_CURVES = 10
"""One-vs-rest ROC curves drawn at most (the most frequent classes)."""
MAX_CLASS_ROWS = 50
"""Per-class rows in the HTML report (all classes are in evaluation.json)."""
IMPORTANCE_ROWS = 1000
IMPORTANCE_REPEATS = 5
MAX_IMPORTANCE_COLUMNS = 100
"""Permutation importance: test rows sampled, shuffles per column, and columns examined at
most (all of them up to this many, a seeded random sample of this many beyond)."""
CALIBRATION_BINS = 10
OTHER = "(other)"
Outcome = tuple[np.ndarray, np.ndarray | None, list[Any] | None]
"""Predictions, probabilities and classes of one model on the test rows."""
UNSCORED_GAP = -1.0
"""The gap written when a metric is undefined (e.g. roc_auc on a one-class split): the gate
must not pass on a number that does not exist."""


def metric_section(problem_type: ProblemType | str, metrics: dict[str, float],
                   extra: Sequence[str] = (),
                   resampled: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """{metric: {"value", "standard_deviation"}} for the contract's metrics (and `extra`):
    the standard deviation over the bootstrap resamples in `resampled`, "NaN" without them."""
    names = [*METRIC_NAMES[ProblemType(problem_type)], *[n for n in extra if n in metrics]]
    resampled = resampled or {}
    return {name: {"value": metrics[name],
                   "standard_deviation": _sd(resampled[name]) if name in resampled else "NaN"}
            for name in names}


def _sd(values: np.ndarray) -> float | str:
    spread = resampling.standard_deviation(values)
    return spread if math.isfinite(spread) else "NaN"


# ---------------------------------------------------------------------------------------------
# Baseline and champion


def load_champion(champion_dir: Path | None, scratch: str) -> tuple[Any, DatasetSchema] | None:
    """The champion model, or None when the folder is absent, empty or holds the marker."""
    if champion_dir is None or not champion_dir.exists():
        return None
    if (champion_dir / NO_CHAMPION_FILE).exists() or not any(champion_dir.iterdir()):
        return None
    return load_model(extract_model(champion_dir, scratch))


def champion_outcome(champion: tuple[Any, DatasetSchema], schema: DatasetSchema,
                     test: pd.DataFrame) -> Outcome:
    """The champion's predictions, probabilities and classes on the test rows; ValueError
    when it cannot score them."""
    model, champion_schema = champion
    if (champion_schema.target, champion_schema.problem_type) != (schema.target,
                                                                  schema.problem_type):
        raise ValueError(f"the champion predicts {champion_schema.target!r} "
                         f"({champion_schema.problem_type.value}), not {schema.target!r}")
    y_pred, probabilities = predict(model, test, champion_schema)
    classes = getattr(model, "classes_", None)
    return y_pred, probabilities, None if classes is None else list(classes)


def unseen_by_champion(champion_schema: DatasetSchema,
                       test: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Which test rows the champion never learnt from, and a note when that cannot be told.

    The rows the split rule its package records (schema.json's ``split``) puts in its test
    split; its train and validation rows are left out: it was fitted on them (train +
    validation when nothing was tuned) or chose its decision threshold on them. With the same
    split settings every challenger test row is a champion test row; a changed salt, share or
    key, or a time split's moving cuts, is what this catches. A package that records no rule
    (made before rules were recorded) or a rule reading columns the rows lack: every row, and
    a note saying the champion may have learnt from some of them (its score can only be
    flattered, so the comparison errs towards keeping the champion)."""
    everything = np.ones(len(test), dtype=bool)
    if not champion_schema.split:
        return everything, ("the champion's package records no split rule: it was compared on "
                            "every test row, some of which it may have learnt from")
    rule = SplitRule.from_dict(champion_schema.split)
    missing = [column for column in rule.columns if column not in test.columns]
    if missing:
        return everything, (f"the champion's split rule reads column(s) {missing} the test "
                            "rows lack: it was compared on every test row, some of which it "
                            "may have learnt from")
    return (assign_splits(test, rule) == SPLITS[-1]).to_numpy(), None


def _gap(metric: str, model: float, reference: float) -> float:
    if not (math.isfinite(model) and math.isfinite(reference)):
        return UNSCORED_GAP
    return gate_gap(metric, model, reference)


def test_split_check(problem_type: ProblemType, y_true: np.ndarray,
                     classes: Sequence[Any] | None) -> dict[str, Any]:
    """Whether the test split has enough rows to decide on: ``test_rows``,
    ``test_split_sufficient`` (1 or 0) and, when it has not, ``test_split_note`` saying how
    many rows it had, the minimum and what to do."""
    rows = len(y_true)
    if problem_type is ProblemType.REGRESSION:
        short = rows < MIN_TEST_ROWS
        had, needed = f"{rows} rows", f"the minimum is {MIN_TEST_ROWS} for regression"
    else:
        counts = {label: int(np.sum(y_true == label)) for label in classes or []}
        scarce = {label: count for label, count in counts.items()
                  if count < MIN_TEST_ROWS_PER_CLASS}
        short = bool(scarce) or not counts
        shown = ", ".join(f"{label!s}: {count}" for label, count in list(scarce.items())[:5])
        more = f" and {len(scarce) - 5} more" if len(scarce) > 5 else ""
        had = f"{rows} rows ({shown}{more})" if scarce else f"{rows} rows"
        needed = f"the minimum is {MIN_TEST_ROWS_PER_CLASS} rows of every class"
    values: dict[str, Any] = {TEST_ROWS: rows, TEST_SPLIT_SUFFICIENT: 0 if short else 1}
    if short:
        values[TEST_SPLIT_NOTE] = (
            f"the test split is too small to decide: it has {had}; {needed}; add labelled "
            "rows (the test split is a fixed share of them) before trusting any score")
    return values


def gate_values(metric: str, model: dict[str, float], baseline: dict[str, float],
                champion: dict[str, float] | None, champion_note: str | None,
                test_split: dict[str, Any],
                training_data: dict[str, Any] | None = None,
                champion_training_data: dict[str, Any] | None = None,
                resampled: dict[str, dict[str, np.ndarray]] | None = None,
                compared: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `gate` section: values and gaps of the gate metric, the test split's size check,
    the training data's fingerprint against the champion's, and (with the bootstrap values
    of "model" and "champion" in `resampled`) the model's interval and the paired
    comparison with the champion. `compared`, when the champion is scored on part of the
    test rows (`unseen_by_champion`): the model's metrics on those rows ("challenger"; its
    resamples are `resampled["challenger"]`), and how many rows were compared and left out."""
    challenger = model if compared is None else compared["challenger"]
    values: dict[str, Any] = {
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric],
        "model": model[metric],
        "baseline": baseline[metric],
        BASELINE_GAP: _gap(metric, model[metric], baseline[metric]),
        CHAMPION_PRESENT: 0 if champion is None else 1,
        CHAMPION_GAP: 0.0 if champion is None else _gap(metric, challenger[metric],
                                                         champion[metric]),
    }
    values[CHAMPION_GAP_HIGH] = values[CHAMPION_GAP]
    if champion is not None:
        values["champion"] = champion[metric]
        if compared is not None:
            values[CHAMPION_ROWS] = compared["rows"]
            values[CHAMPION_SEEN_ROWS] = compared["seen_rows"]
    if resampled is not None:
        values[MODEL_INTERVAL] = resampling.interval(resampled["model"][metric])
        if champion is not None:
            gaps = resampling.paired_gaps(
                metric, resampled.get("challenger", resampled["model"])[metric],
                resampled["champion"][metric])
            values[CHAMPION_GAP_INTERVAL] = resampling.interval(gaps)
            high = values[CHAMPION_GAP_INTERVAL][1]
            if math.isfinite(high):  # never below the point gap: noise only forgives
                values[CHAMPION_GAP_HIGH] = max(high, values[CHAMPION_GAP])
            values[CHAMPION_COMPARISON] = resampling.comparison_in_words(
                metric, challenger[metric], champion[metric], values[CHAMPION_GAP],
                values[CHAMPION_GAP_INTERVAL])
    if champion_note:
        values["champion_note"] = champion_note
    values.update(test_split)
    values[DATA_DIGEST] = recorded_digest(training_data)
    values[CHAMPION_DATA_DIGEST] = recorded_digest(champion_training_data)
    values[DATA_UNCHANGED] = 1 if champion is not None and same_data(
        training_data, champion_training_data) else 0
    return values


# ---------------------------------------------------------------------------------------------
# Details: per class, PR-AUC, calibration, permutation importance, confusion matrix


def per_class_scores(y_true: np.ndarray, y_pred: np.ndarray,
                     classes: Sequence[Any]) -> dict[str, dict[str, float]]:
    precision, recall, f1, support = skmetrics.precision_recall_fscore_support(
        y_true, y_pred, labels=list(classes), zero_division=0)
    return {str(label): {"precision": float(p), "recall": float(r), "f1": float(f),
                         "support": int(s)}
            for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)}


def pr_auc(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any]) -> float:
    """Average precision: of the greater label for two classes, macro one-vs-rest for more
    (classes absent from y_true left out); NaN when undefined."""
    classes = list(classes)
    columns = [(y_true == label, probabilities[:, index])
               for index, label in enumerate(classes)][1 if len(classes) == 2 else 0:]
    scores = [average_precision(positives, scores) for positives, scores in columns
              if positives.any()]
    return float(np.mean(scores)) if scores else math.nan


def average_precision(positives: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's average precision (sum over thresholds of precision × recall step),
    in plain numpy: called once per class, its input validation dominated at 300 classes."""
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positives[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
    true_positives = np.cumsum(hits)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def calibration(y_true: np.ndarray, y_pred: np.ndarray, probabilities: np.ndarray,
                classes: Sequence[Any]) -> dict[str, Any]:
    """Reliability curve: the positive class's probability for two classes, else the
    confidence of the predicted class against whether it was right."""
    if len(classes) == 2:
        outcome, confidence = y_true == classes[1], probabilities[:, 1]
        kind = f"P({classes[1]})"
    else:
        outcome, confidence = y_true == y_pred, probabilities.max(axis=1)
        kind = "confidence of the predicted class"
    observed, predicted = calibration_curve(outcome, confidence, n_bins=CALIBRATION_BINS,
                                            strategy="uniform")
    brier = float(np.mean((confidence - outcome) ** 2))
    return {"of": kind, "mean_predicted": predicted.tolist(), "observed": observed.tolist(),
            "brier_score": brier}


def permutation_importance(model: Any, test: pd.DataFrame, schema: DatasetSchema,
                           metric: str | None = None,
                           seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """How much the gate metric (`metric`, default the problem type's) worsens when one raw
    input column is shuffled: scikit-learn's `permutation_importance` with the metric as
    Evaluate computes it (`scoring.metric_scorer`: the model's threshold for labels, its
    probabilities for roc_auc), IMPORTANCE_REPEATS shuffles per column from `seed`, on at
    most IMPORTANCE_ROWS test rows (a seeded random sample beyond), and every column up to
    MAX_IMPORTANCE_COLUMNS, a seeded random sample of that many beyond (``column_sample``
    says which). ``mean_drop`` is positive when shuffling makes the metric worse (a rise for
    rmse and mae); entries are sorted by it, largest first, undefined ones (NaN) last."""
    name = gate_metric(schema.problem_type, metric).name
    rows = test if len(test) <= IMPORTANCE_ROWS else test.sample(IMPORTANCE_ROWS,
                                                                  random_state=seed)
    features = coerce_features(rows, schema.features).reset_index(drop=True)
    y_true = coerce_target(rows[schema.target], schema).to_numpy()
    score = metric_scorer(schema.problem_type, name, getattr(model, "classes_", None))
    total = len(features.columns)
    if total <= MAX_IMPORTANCE_COLUMNS:
        examined, scorer = features, score
    else:
        chosen = np.sort(np.random.default_rng(seed).choice(total, MAX_IMPORTANCE_COLUMNS,
                                                             replace=False))
        examined = features.iloc[:, chosen]
        unexamined, order = features.drop(columns=examined.columns), list(features.columns)

        def scorer(estimator: Any, shuffled: pd.DataFrame, y: np.ndarray) -> float:
            """The model sees every column: the unexamined ones as they are."""
            return score(estimator, pd.concat([shuffled, unexamined], axis=1)[order], y)

    # One thread per prediction: each shuffled copy is one call on at most IMPORTANCE_ROWS
    # rows, where starting OpenMP/BLAS threads costs more than the work (histogram gradient
    # boosting's per-tree parallel loop made 150 calls on 1,000 rows 20-60 s on two busy
    # cores instead of 3 s).
    with threadpool_limits(limits=1):
        found = sklearn_permutation_importance(model, examined, y_true, scoring=scorer,
                                               n_repeats=IMPORTANCE_REPEATS,
                                               random_state=seed)
    drops = [(str(column), float(mean), float(std)) for column, mean, std
             in zip(examined.columns, found.importances_mean, found.importances_std,
                    strict=True)]
    drops.sort(key=lambda drop: -drop[1] if math.isfinite(drop[1]) else math.inf)
    sign = 1.0 if HIGHER_IS_BETTER[name] else -1.0
    return {"score": name, "reference": sign * score(model, features, y_true),
            "rows": len(features), "repeats": IMPORTANCE_REPEATS,
            "columns_examined": len(examined.columns), "columns_total": total,
            "column_sample": "all" if len(examined.columns) == total else "random",
            "seed": seed,
            "importances": [{"column": column, "mean_drop": mean, "std": std}
                            for column, mean, std in drops]}


def capped_confusion(y_true: np.ndarray, y_pred: np.ndarray,
                     classes: Sequence[Any]) -> dict[str, Any]:
    """The confusion matrix of the MAX_MATRIX_CLASSES most frequent classes (by test rows),
    the rest pooled into OTHER."""
    classes = list(classes)
    if len(classes) > MAX_MATRIX_CLASSES:
        support = pd.Series(y_true).value_counts()
        order = sorted(classes, key=lambda c: (-int(support.get(c, 0)), str(c)))
        shown = order[: MAX_MATRIX_CLASSES - 1]
    else:
        shown = classes
    keep = set(shown)
    pooled = len(shown) < len(classes)

    def label(values: np.ndarray) -> np.ndarray:
        return np.array([str(v) if v in keep else OTHER for v in values], dtype=object)

    labels = [str(c) for c in shown] + ([OTHER] if pooled else [])
    matrix = skmetrics.confusion_matrix(label(y_true), label(y_pred), labels=labels)
    return {"labels": labels, "matrix": matrix.tolist(), "classes_total": len(classes),
            "pooled_classes": len(classes) - len(shown)}


# ---------------------------------------------------------------------------------------------
# Plots


def plot_classification(y_true: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any],
                        confusion: dict[str, Any], calibrated: dict[str, Any],
                        output_dir: Path) -> dict[str, bytes]:
    """confusion_matrix.png (capped), roc_curve.png (at most MAX_CURVES) and
    calibration.png; returns the PNGs by title."""
    pngs: dict[str, bytes] = {}
    labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
    figure = plots.new_figure(1.2 + 0.5 * len(labels) + 2, 1.2 + 0.5 * len(labels) + 1.5)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted",
             ylabel="actual", title="Confusion matrix (test)")
    axes.set_xticklabels(labels, rotation=90)
    axes.set_yticklabels(labels)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    pngs["confusion matrix"] = plots.save_png(figure, output_dir / "confusion_matrix.png")

    figure = plots.new_figure(5, 5, fixed=True)  # class names only in the legend, inside
    axes = figure.subplots()
    classes = list(classes)
    positives = classes[1:] if len(classes) == 2 else sorted(
        classes, key=lambda c: -int(np.sum(y_true == c)))[:MAX_CURVES]
    for label in positives:
        index = classes.index(label)
        is_positive = np.asarray(y_true) == label
        if is_positive.all() or not is_positive.any():
            continue
        fpr, tpr, _ = skmetrics.roc_curve(is_positive, probabilities[:, index])
        axes.plot(fpr, tpr, label=f"{label}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test)")
    axes.legend(loc="lower right", title="positive class", fontsize=7)
    pngs["ROC curve"] = plots.save_png(figure, output_dir / "roc_curve.png")

    figure = plots.new_figure(5, 5, fixed=True)
    axes = figure.subplots()
    axes.plot(calibrated["mean_predicted"], calibrated["observed"], marker="o", label="model")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.set(xlabel=f"mean predicted {calibrated['of']}", ylabel="observed frequency",
             title="Calibration (test)")
    axes.legend(loc="upper left")
    pngs["calibration"] = plots.save_png(figure, output_dir / "calibration.png")
    return pngs


def plot_regression(y_true: np.ndarray, y_pred: np.ndarray, output_dir: Path) -> dict[str, bytes]:
    """residuals.png, residual_histogram.png and predicted_vs_actual.png."""
    pngs: dict[str, bytes] = {}
    residuals = y_true - y_pred
    figure = plots.new_figure(fixed=True)
    axes = figure.subplots()
    axes.scatter(y_pred, residuals, s=12, alpha=0.7)
    axes.axhline(0, color="grey", linestyle="--")
    axes.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals (test)")
    pngs["residuals"] = plots.save_png(figure, output_dir / "residuals.png")

    figure = plots.new_figure(fixed=True)
    axes = figure.subplots()
    axes.hist(residuals, bins=30, color="#4c72b0")
    axes.set(xlabel="actual - predicted", ylabel="rows", title="Residual distribution (test)")
    pngs["residual distribution"] = plots.save_png(figure, output_dir / "residual_histogram.png")

    figure = plots.new_figure(5, 5, fixed=True)
    axes = figure.subplots()
    axes.scatter(y_true, y_pred, s=12, alpha=0.7)
    low, high = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    axes.plot([low, high], [low, high], color="grey", linestyle="--")
    axes.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual (test)")
    pngs["predicted vs actual"] = plots.save_png(figure, output_dir / "predicted_vs_actual.png")
    return pngs


# ---------------------------------------------------------------------------------------------
# The report


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_number(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def render_report(document: dict[str, Any], problem_type: ProblemType,
                  pngs: dict[str, bytes], notes: Sequence[str]) -> str:
    """evaluation.html: the gate, model vs baseline vs champion, details, plots."""
    section = EVALUATION_SECTION[problem_type]
    gate = document[GATE_SECTION]
    names = list(document[section])
    columns = ["metric", "model", "model sd", "baseline"] + (
        ["champion"] if CHAMPION_SECTION in document else [])
    rows = []
    for name in names:
        spread = document[section][name]["standard_deviation"]
        row = [name, document[section][name]["value"],
               spread if isinstance(spread, float) else math.nan,
               document[BASELINE_SECTION][section].get(name, {}).get("value", math.nan)]
        if CHAMPION_SECTION in document:
            row.append(document[CHAMPION_SECTION][section].get(name, {}).get("value", math.nan))
        rows.append(row)
    body = ["<h1>Model evaluation (test split)</h1>",
            f"<p>Gate metric <b>{html.escape(gate['metric'])}</b>: model "
            f"{_number(gate['model'])}"
            + (" ({} interval [{}, {}] over {} bootstrap resamples of the test rows)".format(
                resampling.CONFIDENCE_LABEL, *map(_number, gate[MODEL_INTERVAL]),
                resampling.BOOTSTRAP_RESAMPLES)
               if MODEL_INTERVAL in gate else "")
            + f", trivial baseline {_number(gate['baseline'])} "
            f"(gap {_number(gate[BASELINE_GAP])})"
            + (f"; it {comparison_verdict(gate[CHAMPION_GAP])} the champion "
               f"{_number(gate['champion'])} (gap {_number(gate[CHAMPION_GAP])})"
               if gate[CHAMPION_PRESENT] else ", no champion yet") + ".</p>",
            f"<p>Training data {html.escape(gate[DATA_DIGEST])}"
            + (" (the champion's own training data)" if gate[DATA_UNCHANGED] else "")
            + ".</p>",
            *[f"<p class=note>{html.escape(n)}</p>" for n in notes],
            "<h2>Metrics</h2>", _table(columns, rows)]
    details = document["details"]
    if "per_class" in details:
        per_class = sorted(details["per_class"].items(), key=lambda item: -item[1]["support"])
        shown = per_class[:MAX_CLASS_ROWS]
        body.append("<h2>Per class</h2>")
        if len(shown) < len(per_class):
            body.append(f"<p class=note>the {len(shown)} most frequent of {len(per_class)} "
                        f"classes shown; all are in {EVALUATION_FILE}</p>")
        body.append(_table(["class", "precision", "recall", "f1", "support"],
                           [[label, s["precision"], s["recall"], s["f1"], s["support"]]
                            for label, s in shown]))
    importance = details["permutation_importance"]
    body.append("<h2>Permutation importance</h2>")
    examined = (f"all {importance['columns_total']} columns"
                if importance["column_sample"] == "all"
                else f"a random sample of {importance['columns_examined']} of "
                     f"{importance['columns_total']} columns (seed {importance['seed']})")
    body.append(f"<p>how much {html.escape(importance['score'])} worsens when a column is "
                f"shuffled (mean over {importance['repeats']} shuffles, on "
                f"{importance['rows']} test rows; {examined})</p>")
    body.append(_table(["column", "mean drop", "std"],
                       [[i["column"], i["mean_drop"], i["std"]]
                        for i in importance["importances"][:20]]))
    for title, png in pngs.items():
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
                    f'{data}"><figcaption>{html.escape(title)}</figcaption></figure>')
    style = ("body{font-family:sans-serif;margin:2em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
             "figure{display:inline-block;vertical-align:top;margin:4px}.note{color:#a60}")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Model evaluation</title><style>{style}</style></head><body>"
            f"{''.join(body)}</body></html>\n")


# ---------------------------------------------------------------------------------------------
# The job


def evaluate(
    model: Any,
    schema: DatasetSchema,
    test: pd.DataFrame,
    output_dir: str | Path,
    champion: tuple[Any, DatasetSchema] | None = None,
    metric: str | None = None,
) -> dict[str, Any]:
    """Score `model`, the trivial baseline and `champion` on the test frame; write
    evaluation.json, evaluation.html and plots; return the document."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    problem_type = schema.problem_type
    gate = gate_metric(problem_type, metric)
    section = EVALUATION_SECTION[problem_type]
    y_true = coerce_target(test[schema.target], schema).to_numpy()
    y_pred, probabilities = predict(model, test, schema)
    classes = list(model.classes_) if problem_type is ProblemType.CLASSIFICATION else None
    metrics = compute_metrics(problem_type, y_true, y_pred, probabilities, classes)
    baseline = baseline_metrics(problem_type, y_true, classes)
    notes: list[str] = []
    champion_metrics, champion_note = None, None
    test_split = test_split_check(problem_type, y_true, classes)
    if not test_split[TEST_SPLIT_SUFFICIENT]:
        notes.append(test_split[TEST_SPLIT_NOTE])
        print(f"warning: {test_split[TEST_SPLIT_NOTE]}", file=sys.stderr)
    outcomes: dict[str, Outcome] = {"model": (y_pred, probabilities, classes)}
    paired: dict[str, Outcome] = {}
    unseen = np.ones(len(test), dtype=bool)
    compared = None
    if champion is not None:
        try:
            unseen, unseen_note = unseen_by_champion(champion[1], test)
            if unseen_note:
                notes.append(unseen_note)
                print(f"warning: {unseen_note}", file=sys.stderr)
            if not unseen.any():
                raise ValueError("it learnt from every test row (its split rule puts them all "
                                 "in its train or validation split)")
            rows = test[unseen]
            paired = {"challenger": (np.asarray(y_pred)[unseen], None if probabilities is None
                                     else np.asarray(probabilities)[unseen], classes),
                      "champion": champion_outcome(champion, schema, rows)}
            champion_metrics = compute_metrics(problem_type, y_true[unseen], *paired["champion"])
            compared = {"challenger": compute_metrics(problem_type, y_true[unseen],
                                                      *paired["challenger"]),
                        "rows": int(unseen.sum()), "seen_rows": int((~unseen).sum())}
        except (SchemaError, ValueError, KeyError) as error:
            paired, champion_metrics, compared = {}, None, None
            champion_note = f"the champion could not be scored fairly on the test split: {error}"
            notes.append(champion_note + "; the gate compared with the baseline only")
            print(f"warning: {champion_note}", file=sys.stderr)
        if compared is not None and compared["seen_rows"]:
            notes.append(f"the champion was compared on {compared['rows']} of {len(test)} test "
                         f"rows: {compared['seen_rows']} its split rule puts in its train or "
                         "validation split were left out of the comparison")
    details: dict[str, Any] = {}
    extra: list[str] = []
    if problem_type is ProblemType.CLASSIFICATION:
        metrics["pr_auc"] = pr_auc(y_true, probabilities, classes)
        baseline["pr_auc"] = pr_auc(
            y_true, constant_predictions(problem_type, "pr_auc", y_true, classes)[1], classes)
        extra = ["pr_auc"]
        threshold = decision_threshold(model)
        details["decision_threshold"] = threshold
        if threshold is not None:
            notes.append(f"labels: {classes[1]} when its probability is at least "
                         f"{threshold:.3f} (the decision threshold chosen in training); "
                         "the endpoint applies the same threshold")
        labels = all_labels(classes, y_true)
        if len(labels) > len(classes):
            notes.append(f"the test split holds labels the model never saw "
                         f"({', '.join(map(str, labels[len(classes):][:5]))}): their rows "
                         "are scored as errors (recall 0 for their class)")
        details["per_class"] = per_class_scores(y_true, y_pred, labels)
        details["calibration"] = calibration(y_true, y_pred, probabilities, classes)
        details["confusion_matrix"] = capped_confusion(y_true, y_pred, labels)
        if details["confusion_matrix"]["pooled_classes"]:
            notes.append(f"confusion matrix: the {MAX_MATRIX_CLASSES - 1} most frequent of "
                         f"{len(classes)} classes, the rest pooled as {OTHER}")
        if len(classes) > 2 and len(classes) > MAX_CURVES:
            notes.append(f"ROC curves drawn for the {MAX_CURVES} most frequent of "
                         f"{len(classes)} classes")
    details["permutation_importance"] = permutation_importance(model, test, schema,
                                                                 gate.name)
    if paired and unseen.all():  # one bootstrap: the same resampled rows for both
        outcomes["champion"] = paired.pop("champion")
        paired = {}
    resampled = resampling.bootstrap(problem_type, y_true, outcomes, METRIC_NAMES[problem_type])
    if paired:
        resampled.update(resampling.bootstrap(problem_type, y_true[unseen], paired,
                                              METRIC_NAMES[problem_type]))
    document: dict[str, Any] = {
        section: metric_section(problem_type, metrics, extra, resampled["model"]),
        BASELINE_SECTION: {section: metric_section(problem_type, baseline, extra)},
        GATE_SECTION: gate_values(gate.name, metrics, baseline, champion_metrics,
                                  champion_note, test_split, schema.training_data,
                                  champion[1].training_data if champion_metrics else None,
                                  resampled, compared),
        "details": details,
    }
    if champion_metrics is not None:
        document[CHAMPION_SECTION] = {section: metric_section(
            problem_type, champion_metrics, resampled=resampled["champion"])}
        notes.insert(0, document[GATE_SECTION][CHAMPION_COMPARISON])
    pngs: dict[str, bytes] = {}
    if plots.available():
        if problem_type is ProblemType.CLASSIFICATION:
            pngs = plot_classification(y_true, probabilities, classes,
                                       details["confusion_matrix"], details["calibration"],
                                       output_dir)
        else:
            pngs = plot_regression(y_true.astype(float), np.asarray(y_pred, dtype=float),
                                   output_dir)
    else:
        print(plots.SKIPPED_NOTE)
        notes.append(plots.SKIPPED_NOTE)
    write_json(output_dir / EVALUATION_FILE, document)
    (output_dir / EVALUATION_REPORT_FILE).write_text(
        render_report(document, problem_type, pngs, notes), encoding="utf-8")
    return document


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    parser.add_argument("--model-dir", type=Path, default=Path(PROCESSING_MODEL_DIR))
    parser.add_argument("--test-dir", type=Path, default=Path(PROCESSING_TEST_DIR))
    parser.add_argument("--champion-dir", type=Path, default=None,
                        help=f"the champion's model (default: none; {PROCESSING_CHAMPION_DIR} "
                             f"in the pipeline, holding {NO_CHAMPION_FILE} when there is none)")
    parser.add_argument(
        "--output-dir", type=Path, default=Path(PROCESSING_OUTPUT_DIR) / EVALUATION_OUTPUT
    )
    parser.add_argument("--target", help="Default: the target the model was trained on.")
    parser.add_argument("--problem-type", choices=[p.value for p in ProblemType])
    parser.add_argument(f"--{GATE_METRIC_FLAG}", dest="gate_metric",
                        help="Default: the problem type's default gate metric.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="model-") as scratch:
        model, schema = load_model(extract_model(args.model_dir, scratch))
        champion = load_champion(args.champion_dir, str(Path(scratch) / "champion"))
    if args.target is not None and args.target != schema.target:
        raise ValueError(
            f"--target {args.target!r} differs from the model's target {schema.target!r}"
        )
    if args.problem_type is not None and args.problem_type != schema.problem_type.value:
        raise ValueError(
            f"--problem-type {args.problem_type!r} differs from the model's "
            f"{schema.problem_type.value!r}"
        )
    document = evaluate(model, schema, read_csv_folder(args.test_dir), args.output_dir,
                        champion, args.gate_metric)
    gate = document[GATE_SECTION]
    print(f"wrote {args.output_dir / EVALUATION_FILE}: {gate['metric']} model={gate['model']}"
          f" baseline={gate['baseline']} champion={gate.get('champion', 'none')}")
    return document


if __name__ == "__main__":
    main()
