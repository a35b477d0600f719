"""Without matplotlib (not in the job image) profile and evaluate still write their outputs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from training import plots
from training.contract import Job
from training.data.schema import load_schema, read_csv_folder
from training.eda.profile import profile_dataframe
from training.evaluate import evaluate
from training.train.model_files import load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make `import matplotlib` (and its submodules) fail, as in the job image."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_available_says_whether_matplotlib_imports(monkeypatch):
    assert plots.available() is True
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert plots.available() is False


@pytest.mark.slow
def test_importing_the_jobs_does_not_import_matplotlib():
    code = (
        "import sys, training.eda.profile, training.evaluate.evaluate, training.train.train\n"
        "import training.serve.inference\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_profile_without_matplotlib_writes_report_summary_and_baseline(
    no_matplotlib, tmp_path, cancer_frame
):
    frame = cancer_frame[["mean radius", "size_band", "diagnosis_benign"]]
    summary = profile_dataframe(
        frame, "diagnosis_benign", "classification", tmp_path / "report", tmp_path / "baseline"
    )
    report = (tmp_path / "report" / "report.html").read_text()
    assert report.count(plots.SKIPPED_NOTE) == 1
    assert "<img" not in report and '<h2 id="table">Column statistics</h2>' in report
    assert list((tmp_path / "report").glob("*.png")) == []
    split_note, skipped = json.loads((tmp_path / "report" / "summary.json").read_text())["notes"]
    assert split_note.startswith("Preprocess will make a hash split") and skipped == (
        plots.SKIPPED_NOTE)
    assert summary["rows"] == len(frame)
    assert {p.name for p in (tmp_path / "baseline").iterdir()} == {
        "statistics.json",
        "constraints.json",
    }


def test_profile_with_matplotlib_does_not_say_plots_were_skipped(tmp_path, cancer_frame):
    frame = cancer_frame[["mean radius", "size_band", "diagnosis_benign"]]
    profile_dataframe(frame, "diagnosis_benign", "classification", tmp_path)
    assert plots.SKIPPED_NOTE not in (tmp_path / "report.html").read_text()
    assert list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("run_name", ["classification_run", "regression_run"])
def test_evaluate_without_matplotlib_writes_the_same_evaluation_json(
    run_name, request, tmp_path
):
    run = request.getfixturevalue(run_name)
    model, schema = load_model(run.model_dir)
    test = read_csv_folder(run.processed / "test")
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        for name in [m for m in sys.modules if m.split(".")[0] == "matplotlib"]:
            patch.delitem(sys.modules, name)
        patch.setitem(sys.modules, "matplotlib", None)
        evaluate.evaluate(model, schema, test, tmp_path)
    assert out.getvalue().count(plots.SKIPPED_NOTE) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluation.html", "evaluation.json"]
    assert plots.SKIPPED_NOTE in (tmp_path / "evaluation.html").read_text()
    written = (tmp_path / "evaluation.json").read_text()
    assert written == (run.evaluation / "evaluation.json").read_text()
    assert load_schema(run.model_dir / "schema.json") == schema


@pytest.mark.slow
def test_profile_runs_as_a_script_where_matplotlib_cannot_be_imported(tmp_path, cancer_frame):
    """The job image's situation: the script alone, site-packages without matplotlib."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('no matplotlib in the image')\n")
    data = tmp_path / "data"
    data.mkdir()
    cancer_frame[["mean radius", "size_band", "diagnosis_benign"]].to_csv(
        data / "part.csv", index=False
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(blocker), *site.getsitepackages()]),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            str(REPO / Job.PROFILE.script),
            "--data-dir", str(data),
            "--report-dir", str(tmp_path / "report"),
            "--baseline-dir", str(tmp_path / "baseline"),
            "--target", "diagnosis_benign",
            "--problem-type", "classification",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert plots.SKIPPED_NOTE in (tmp_path / "report" / "report.html").read_text()
    assert (tmp_path / "baseline" / "statistics.json").is_file()


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_fixed_layout_figure_is_saved_at_its_size_with_its_text_inside():
    """Fixed figures are drawn once (no crop): their labels must fit the fixed margins."""
    import numpy as np

    from training.contract import ProblemType
    from training.data.schema import DatasetSchema
    from training.eda.profile import _target_figure

    name = "w" * 40
    schema = DatasetSchema(target=name, problem_type=ProblemType.REGRESSION, features=(),
                           columns=(name,))
    figure = _target_figure(pd_series(np.linspace(0, 2_000_000, 5000)), schema)
    assert figure.get_label() == plots.FIXED_LAYOUT
    assert _png_size(plots.figure_png(figure)) == (500, 320)
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())
    width, height = figure.get_size_inches()
    assert drawn.x0 >= 0 and drawn.y0 >= 0 and drawn.x1 <= width and drawn.y1 <= height


def test_figures_with_data_sized_labels_are_cropped_to_what_they_draw():
    figure = plots.new_figure(4.0, 3.0)
    axes = figure.subplots()
    axes.barh(["a category name far longer than any margin could hold"], [3])
    width, _ = _png_size(plots.figure_png(figure))
    assert width > 400  # the long label widened the PNG instead of being cut off


def pd_series(values):
    import pandas as pd

    return pd.Series(values)
