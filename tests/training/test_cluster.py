"""Multi-instance processing: Profile and Preprocess on a cluster whose input is ShardedByS3Key.

A cluster is simulated the way SageMaker runs it: one resourceconfig.json per host, each host's
main() given a disjoint share of the input files, all writing to one output folder (S3 merges
the hosts' uploads under one prefix, so a name two hosts write is an overwrite).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from tests.training.conftest import CLASSIFICATION_TARGET, breast_cancer
from training import cluster as cluster_module
from training.cluster import SINGLE_HOST, Cluster, load_cluster
from training.contract import RESOURCE_CONFIG_ENV, SPLITS, Job
from training.data import preprocess
from training.data.problems import SchemaError
from training.data.schema import load_schema
from training.eda import profile
from training.evaluate import evaluate
from training.train import train

HOSTS = ("algo-1", "algo-2")
pytestmark = pytest.mark.slow  # every test runs the jobs on sharded input

REPO = Path(__file__).resolve().parents[2]


def write_resource_config(folder: Path, host: str, hosts: tuple[str, ...] = HOSTS) -> Path:
    path = folder / f"resourceconfig-{host}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"current_host": host, "hosts": list(hosts)}))
    return path


@contextlib.contextmanager
def on_host(root: Path, host: str, hosts: tuple[str, ...] = HOSTS):
    """Run the block as `host` of `hosts` (SM_RESOURCE_CONFIG names that host's config)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(RESOURCE_CONFIG_ENV, str(write_resource_config(root / "config", host, hosts)))
        yield


def shard_by_key(frame: pd.DataFrame, root: Path, files: int = 4) -> dict[str, Path]:
    """Write `frame` as `files` CSV objects and give host i every len(HOSTS)-th one from i,
    the way ShardedByS3Key deals out the keys; returns each host's input folder."""
    folders = {host: root / host / "data" for host in HOSTS}
    for index, rows in enumerate(np.array_split(np.arange(len(frame)), files)):
        folder = folders[HOSTS[index % len(HOSTS)]]
        folder.mkdir(parents=True, exist_ok=True)
        frame.iloc[rows].to_csv(folder / f"part-{index:03d}.csv", index=False)
    return folders


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: relative path -> (content, modification time in ns)."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def written_by_second_host(
    before: dict[str, tuple[bytes, int]], after: dict[str, tuple[bytes, int]]
) -> set[str]:
    """What the second host wrote; fails if it rewrote any file of the first host."""
    overwritten = sorted(name for name, state in before.items() if after.get(name) != state)
    assert not overwritten, f"the second host overwrote {overwritten}"
    return set(after) - set(before)


def preprocess_args(data: Path, output: Path, target: str = CLASSIFICATION_TARGET) -> list[str]:
    return [
        "--data-dir",
        str(data),
        "--output-dir",
        str(output),
        "--target",
        target,
        "--problem-type",
        "classification",
    ]


def profile_args(data: Path, output: Path) -> list[str]:
    return [
        "--data-dir",
        str(data),
        "--report-dir",
        str(output / "report"),
        "--baseline-dir",
        str(output / "baseline"),
        "--target",
        CLASSIFICATION_TARGET,
        "--problem-type",
        "classification",
    ]


def split_names(host: str) -> set[str]:
    return {f"{s}/{s}-{host}.csv" for s in SPLITS}


# --- the cluster description -----------------------------------------------------------------


def test_without_a_resource_config_the_job_is_the_single_host_algo_1(monkeypatch, tmp_path):
    monkeypatch.delenv(RESOURCE_CONFIG_ENV, raising=False)
    monkeypatch.setattr(cluster_module, "RESOURCE_CONFIG_FILE", str(tmp_path / "absent.json"))
    cluster = load_cluster()
    assert cluster == SINGLE_HOST == Cluster("algo-1", ("algo-1",))
    assert cluster.is_primary and not cluster.is_multi_host


def test_the_default_resource_config_is_sagemakers_and_is_read(monkeypatch, tmp_path):
    assert cluster_module.RESOURCE_CONFIG_FILE == "/opt/ml/config/resourceconfig.json"
    monkeypatch.delenv(RESOURCE_CONFIG_ENV, raising=False)
    config = write_resource_config(tmp_path, "algo-2")
    monkeypatch.setattr(cluster_module, "RESOURCE_CONFIG_FILE", str(config))
    assert load_cluster() == Cluster("algo-2", HOSTS)


@pytest.mark.parametrize(("host", "primary"), [("algo-1", True), ("algo-2", False)])
def test_the_first_host_is_the_primary(monkeypatch, tmp_path, host, primary):
    monkeypatch.setenv(RESOURCE_CONFIG_ENV, str(write_resource_config(tmp_path, host)))
    cluster = load_cluster()
    assert (cluster.current_host, cluster.hosts, cluster.primary) == (host, HOSTS, "algo-1")
    assert cluster.is_primary is primary
    assert cluster.is_multi_host


def test_a_resource_config_named_by_the_variable_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv(RESOURCE_CONFIG_ENV, str(tmp_path / "absent.json"))
    with pytest.raises(FileNotFoundError, match=f"absent.json not found.*{RESOURCE_CONFIG_ENV}"):
        load_cluster()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"current_host": "algo-3", "hosts": ["algo-1", "algo-2"]}', "'algo-3' is not one of"),
        ('{"current_host": "algo-1"}', r"missing key\(s\) \['hosts'\]"),
        ('{"current_host": "algo-1", "hosts": "algo-1"}', "hosts must be a list"),
        ('{"current_host": "algo-1", "hosts": []}', "at least one host"),
        ('{"current_host": "../x", "hosts": ["../x"]}', r"host names must match .*'\.\./x'"),
        ('{"current_host": "algo-1", "hosts": ["algo-1", "algo-1"]}', "more than once"),
        ("algo-1", "Expecting value"),
    ],
)
def test_an_invalid_resource_config_is_named_with_the_problem(tmp_path, content, message):
    config = tmp_path / "resourceconfig.json"
    config.write_text(content)
    with pytest.raises(ValueError, match=f"{config.name} is not a valid cluster: .*{message}"):
        load_cluster(config)


# --- preprocess on two hosts -----------------------------------------------------------------


@dataclass(frozen=True)
class TwoHostPreprocess:
    inputs: dict[str, Path]
    output: Path
    """The shared output folder, as S3 merges the hosts' uploads."""
    after_primary: dict[str, tuple[bytes, int]]
    after_both: dict[str, tuple[bytes, int]]
    counts: dict[str, dict]


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory) -> TwoHostPreprocess:
    root = tmp_path_factory.mktemp("two-host-preprocess")
    inputs = shard_by_key(breast_cancer(), root / "input")
    output = root / "output"
    counts = {}
    with on_host(root, "algo-1"):
        counts["algo-1"] = preprocess.main(preprocess_args(inputs["algo-1"], output))
    after_primary = snapshot(output)
    with on_host(root, "algo-2"):
        counts["algo-2"] = preprocess.main(preprocess_args(inputs["algo-2"], output))
    return TwoHostPreprocess(inputs, output, after_primary, snapshot(output), counts)


def test_preprocess_hosts_write_disjoint_files_into_the_shared_output(two_hosts):
    primary_files = set(two_hosts.after_primary)
    secondary_files = written_by_second_host(two_hosts.after_primary, two_hosts.after_both)
    assert primary_files == split_names("algo-1") | {
        "transform/preprocessor.joblib",
        "transform/schema.json",
        "transform/feature_plan.json",
    }
    assert secondary_files == split_names("algo-2")


def test_each_host_splits_exactly_its_own_shard(two_hosts):
    for host, data in two_hosts.inputs.items():
        rows = pd.concat([pd.read_csv(two_hosts.output / name) for name in split_names(host)])
        assert len(rows) == two_hosts.counts[host]["rows_after_cleaning"]
        assert len(rows) == len(pd.concat(pd.read_csv(p) for p in data.glob("*.csv")))


def test_transforms_are_fitted_on_the_primarys_train_split(two_hosts):
    transformer = joblib.load(two_hosts.output / "transform" / "preprocessor.joblib")
    columns = list(transformer.transformers_[0][2])
    scaler = transformer.named_transformers_["numeric"].named_steps["scale"]
    primary_train = pd.read_csv(two_hosts.output / "train" / "train-algo-1.csv")
    assert scaler.n_samples_seen_ == len(primary_train)
    assert scaler.mean_[columns.index("mean radius")] == pytest.approx(
        primary_train["mean radius"].mean()
    )


def test_a_secondary_host_writes_no_transforms_and_splits_deterministically(two_hosts, tmp_path):
    with on_host(tmp_path, "algo-2"):
        preprocess.main(preprocess_args(two_hosts.inputs["algo-2"], tmp_path / "out"))
    alone = snapshot(tmp_path / "out")
    assert set(alone) == split_names("algo-2")
    for name, (content, _) in alone.items():
        assert content == two_hosts.after_both[name][0], name


def test_train_and_evaluate_read_every_hosts_split_files(two_hosts, tmp_path, monkeypatch):
    def rows(split: str) -> int:
        files = [two_hosts.output / split / f"{split}-{host}.csv" for host in HOSTS]
        counts = [len(pd.read_csv(path)) for path in files]
        assert all(counts), counts  # both hosts contribute, so one file alone cannot pass
        return sum(counts)

    processed = two_hosts.output
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    for channel in ("train", "validation", "transform"):
        monkeypatch.setenv(f"SM_CHANNEL_{channel.upper()}", str(processed / channel))
    with contextlib.redirect_stdout(io.StringIO()):
        train.main(["--estimator", "linear"])
    model = joblib.load(tmp_path / "model" / "model.joblib")
    scaler = model.named_steps["features"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.n_samples_seen_ == rows("train") + rows("validation")  # refit on both

    scored: list[int] = []
    real_evaluate = evaluate.evaluate

    def recording_evaluate(model, schema, test, output_dir, *args):
        scored.append(len(test))
        return real_evaluate(model, schema, test, output_dir, *args)

    monkeypatch.setattr(evaluate, "evaluate", recording_evaluate)
    with contextlib.redirect_stdout(io.StringIO()):
        evaluate.main(
            [
                "--model-dir",
                str(tmp_path / "model"),
                "--test-dir",
                str(processed / "test"),
                "--output-dir",
                str(tmp_path / "evaluation"),
            ]
        )
    assert scored == [rows("test")]


def test_the_model_schema_lists_classes_missing_from_the_primarys_shard(tmp_path, monkeypatch):
    # GIVEN three classes, the primary's files holding only classes 0 and 1
    wine = load_wine(as_frame=True).frame
    class_one = wine[wine["target"] == 1]
    shards = {
        "algo-1": pd.concat([wine[wine["target"] == 0], class_one.iloc[::2]]),
        "algo-2": pd.concat([wine[wine["target"] == 2], class_one.iloc[1::2]]),
    }
    output = tmp_path / "output"
    for host, frame in shards.items():
        (tmp_path / host).mkdir()
        frame.to_csv(tmp_path / host / "part.csv", index=False)
        with on_host(tmp_path, host), contextlib.redirect_stdout(io.StringIO()):
            # Each shard holds different classes, so alcohol alone separates a shard's:
            # a leak by the numbers, not by construction.
            preprocess.main([*preprocess_args(tmp_path / host, output, target="target"),
                             "--leak-policy", "proceed"])
    # WHEN training on both hosts' splits
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    for channel in ("train", "validation", "transform"):
        monkeypatch.setenv(f"SM_CHANNEL_{channel.upper()}", str(output / channel))
    with contextlib.redirect_stdout(io.StringIO()):
        train.main(["--estimator", "linear"])
    # THEN the primary's schema misses class 2 but the model's schema does not
    assert load_schema(output / "transform" / "schema.json").class_labels == (0, 1)
    assert load_schema(tmp_path / "model" / "schema.json").class_labels == (0, 1, 2)


# --- hosts without files ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["empty folder", "no folder"])
@pytest.mark.parametrize("step", ["preprocess", "profile"])
def test_a_secondary_host_without_files_logs_it_and_writes_nothing(tmp_path, step, layout):
    data = tmp_path / "data"
    if layout == "empty folder":
        data.mkdir()
    output = tmp_path / "output"
    main, args = {
        "preprocess": (preprocess.main, preprocess_args(data, output)),
        "profile": (profile.main, profile_args(data, output)),
    }[step]
    stdout = io.StringIO()
    with on_host(tmp_path, "algo-2"), contextlib.redirect_stdout(stdout):
        assert main(args) == {}
    assert f"algo-2: no *.csv files under {data}" in stdout.getvalue()
    assert not output.exists()


def test_a_secondary_host_without_files_exits_0_as_a_script(tmp_path):
    env = {
        **os.environ,
        RESOURCE_CONFIG_ENV: str(write_resource_config(tmp_path, "algo-2")),
    }
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / Job.PREPROCESS.script),
            *preprocess_args(tmp_path / "data", tmp_path / "output"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "nothing to write" in result.stdout
    assert not (tmp_path / "output").exists()


@pytest.mark.parametrize("step", ["preprocess", "profile"])
def test_the_primary_without_files_fails_with_the_no_data_error(tmp_path, step):
    (tmp_path / "data").mkdir()
    main, args = {
        "preprocess": (preprocess.main, preprocess_args(tmp_path / "data", tmp_path / "out")),
        "profile": (profile.main, profile_args(tmp_path / "data", tmp_path / "out")),
    }[step]
    with on_host(tmp_path, "algo-1"), pytest.raises(SchemaError, match="no data: no \\*.csv"):
        main(args)


# --- profile on two hosts --------------------------------------------------------------------


def test_profile_hosts_keep_the_baseline_uri_and_write_disjoint_files(tmp_path):
    columns = ["mean radius", "mean texture", "size_band", CLASSIFICATION_TARGET]
    inputs = shard_by_key(breast_cancer()[columns], tmp_path / "input")
    output = tmp_path / "output"
    summaries = {}
    with on_host(tmp_path, "algo-1"), contextlib.redirect_stdout(io.StringIO()):
        summaries["algo-1"] = profile.main(profile_args(inputs["algo-1"], output))
    after_primary = snapshot(output)
    with on_host(tmp_path, "algo-2"), contextlib.redirect_stdout(io.StringIO()):
        summaries["algo-2"] = profile.main(profile_args(inputs["algo-2"], output))
    secondary_files = written_by_second_host(after_primary, snapshot(output))

    assert {"baseline/statistics.json", "baseline/constraints.json"} <= set(after_primary)
    assert {"report/report.html", "report/summary.json", "report/target.png"} <= set(after_primary)
    assert all("algo-" not in name for name in after_primary)
    assert secondary_files == {
        name.replace("report/", "report/algo-2/").replace("baseline/", "baseline/algo-2/")
        for name in after_primary
    }
    for host, data in inputs.items():
        shard_rows = sum(len(pd.read_csv(p)) for p in data.glob("*.csv"))
        baseline = output / "baseline" / ("" if host == "algo-1" else host)
        statistics = json.loads((baseline / "statistics.json").read_text())
        assert statistics["dataset"]["item_count"] == shard_rows
        assert summaries[host]["rows"] == shard_rows
    report = (output / "report" / "report.html").read_text()
    assert "profile of host algo-1&#x27;s shard of the input files, one of 2 hosts" in report


# --- one host: the output is what it was -----------------------------------------------------


def test_a_single_host_preprocess_writes_the_plain_names_byte_for_byte(
    classification_run, tmp_path
):
    with on_host(tmp_path, "algo-1", hosts=("algo-1",)), contextlib.redirect_stdout(io.StringIO()):
        preprocess.main(
            preprocess_args(classification_run.data, tmp_path / "out", classification_run.target)
        )
    written = snapshot(tmp_path / "out")
    assert set(written) == {
        "train/train.csv",
        "validation/validation.csv",
        "test/test.csv",
        "transform/preprocessor.joblib",
        "transform/schema.json",
        "transform/feature_plan.json",
    }
    without_config = snapshot(classification_run.processed)
    assert {name: content for name, (content, _) in written.items()} == {
        name: content for name, (content, _) in without_config.items()
    }


def test_a_single_host_profile_writes_the_plain_names_byte_for_byte(tmp_path, monkeypatch):
    columns = ["mean radius", "mean texture", "size_band", CLASSIFICATION_TARGET]
    data = tmp_path / "data"
    data.mkdir()
    breast_cancer()[columns].to_csv(data / "part.csv", index=False)
    monkeypatch.delenv(RESOURCE_CONFIG_ENV, raising=False)
    monkeypatch.setattr(cluster_module, "RESOURCE_CONFIG_FILE", str(tmp_path / "absent.json"))
    with contextlib.redirect_stdout(io.StringIO()):
        profile.main(profile_args(data, tmp_path / "without-config"))
        with on_host(tmp_path, "algo-1", hosts=("algo-1",)):
            profile.main(profile_args(data, tmp_path / "one-host"))
    written = {name: content for name, (content, _) in snapshot(tmp_path / "one-host").items()}
    without_config = snapshot(tmp_path / "without-config")
    assert {"baseline/statistics.json", "baseline/constraints.json"} <= set(written)
    assert all(name.count("/") == 1 for name in written)
    notes = json.loads(written["report/summary.json"])["notes"]
    assert not [note for note in notes if "shard" in note]  # no shard warning
    assert written == {name: content for name, (content, _) in without_config.items()}
