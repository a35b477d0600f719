"""The requirements files, their key, and the deploy-time wheelhouse."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from mlops_components.sagemaker.requirements import (
    PLATFORMS,
    Requirement,
    RequirementsError,
    WheelhouseError,
    build_wheelhouse,
    parse_requirements,
    pip_download_command,
    requirements_key,
)
from tests.env.conftest import CACHE_ROOT, PINS, REQUIREMENTS
from training.contract import REQUIREMENTS_FILE


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_parse_reads_exact_pins_and_ignores_comments() -> None:
    text = "# header\n\nScikit_Learn==1.9.0  # comment\nmatplotlib[extra]==3.10.8\n"
    assert parse_requirements(text) == [Requirement("scikit-learn", "1.9.0"),
                                        Requirement("matplotlib", "3.10.8", "[extra]")]


@pytest.mark.parametrize("line", ["lightgbm>=4", "lightgbm", "-r other.txt",
                                  "--index-url https://example.org"])
def test_parse_rejects_anything_but_an_exact_pin(line: str) -> None:
    with pytest.raises(RequirementsError, match=r"^reqs line 2: .* is not an exact pin"):
        parse_requirements(f"numpy==2.5.1\n{line}\n", label="reqs")


def test_parse_rejects_a_package_pinned_twice() -> None:
    with pytest.raises(RequirementsError, match="numpy is pinned twice"):
        parse_requirements("numpy==2.5.1\nNumPy==2.5.0\n")


def test_the_repository_files_are_exact_pins_with_the_image_versions() -> None:
    pins = {req.name: req.version for req in parse_requirements(PINS)}
    assert {name: pins[name] for name in ("scikit-learn", "numpy", "scipy", "pandas")} == {
        "scikit-learn": "1.9.0", "numpy": "2.5.1", "scipy": "1.18.0", "pandas": "2.2.3"}
    assert "matplotlib" not in pins  # the image lacks it: that is the point of the issue
    assert "matplotlib" in {req.name for req in parse_requirements(REQUIREMENTS)}


def test_key_ignores_comments_order_and_spelling(tmp_path: Path) -> None:
    pins = write(tmp_path, "pins.txt", "numpy==2.5.1\npandas==2.2.3\n")
    one = write(tmp_path, "a.txt", "matplotlib==3.10.8\ncycler==0.12.1\n")
    two = write(tmp_path, "b.txt", "# plots\nCycler==0.12.1\n\nMatplotlib==3.10.8  # x\n")
    assert requirements_key(one, pins) == requirements_key(two, pins)
    assert len(requirements_key(one, pins)) == 16


def test_key_changes_with_any_version(tmp_path: Path) -> None:
    pins = write(tmp_path, "pins.txt", "numpy==2.5.1\n")
    other_pins = write(tmp_path, "pins2.txt", "numpy==2.5.0\n")
    reqs = write(tmp_path, "a.txt", "matplotlib==3.10.8\n")
    newer = write(tmp_path, "b.txt", "matplotlib==3.11.2\n")
    keys = {requirements_key(reqs, pins), requirements_key(newer, pins),
            requirements_key(reqs, other_pins)}
    assert len(keys) == 3


def test_download_command_targets_the_image_interpreter_and_every_glibc(tmp_path: Path) -> None:
    command = pip_download_command(REQUIREMENTS, PINS, tmp_path)
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--abi") + 1] == "cp312"
    assert "--only-binary=:all:" in command
    platforms = {command[i + 1] for i, arg in enumerate(command) if arg == "--platform"}
    assert platforms == set(PLATFORMS)
    assert {"manylinux2014_x86_64", "manylinux_2_28_x86_64"} <= platforms  # numpy 2.5 is 2_28
    assert command[command.index("-c") + 1] == str(PINS)


def test_empty_requirements_need_no_wheelhouse(tmp_path: Path) -> None:
    reqs = write(tmp_path, "r.txt", "# nothing beyond the image\n")
    called = []
    assert build_wheelhouse(reqs, PINS, tmp_path, runner=lambda *a, **k: called.append(a)) is None
    assert called == []


def fake_wheel(folder: Path, name: str, version: str) -> None:
    (folder / f"{name}-{version}-py3-none-any.whl").write_bytes(f"{name} {version}".encode())


def fake_pip(wheels: list[tuple[str, str]]):
    """Stands in for PyPI: writes these wheel files where `pip download --dest` points."""

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess:
        destination = Path(command[command.index("--dest") + 1])
        for name, version in wheels:
            fake_wheel(destination, name, version)
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_wheelhouse_holds_what_the_image_lacks_and_is_reproducible(tmp_path: Path) -> None:
    pins = write(tmp_path, "pins.txt", "numpy==2.5.1\npillow==12.3.0\n")
    reqs = write(tmp_path, "r.txt", "matplotlib==3.10.8\n")
    runner = fake_pip([("matplotlib", "3.10.8"), ("numpy", "2.5.1"), ("pillow", "12.3.0"),
                       ("cycler", "0.12.1")])
    first = build_wheelhouse(reqs, pins, tmp_path / "a", runner=runner)
    second = build_wheelhouse(reqs, pins, tmp_path / "b", runner=runner)
    assert first is not None and second is not None
    assert first.name == f"wheelhouse-{requirements_key(reqs, pins)}.tar.gz"
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as archive:
        assert archive.getnames() == sorted([REQUIREMENTS_FILE, "cycler-0.12.1-py3-none-any.whl",
                                             "matplotlib-3.10.8-py3-none-any.whl"])
        assert {member.mtime for member in archive.getmembers()} == {0}


def test_an_existing_wheelhouse_is_reused_without_downloading(tmp_path: Path) -> None:
    reqs = write(tmp_path, "r.txt", "matplotlib==3.10.8\n")
    archive = build_wheelhouse(reqs, PINS, tmp_path, runner=fake_pip([("matplotlib", "3.10.8")]))

    def no_network(*_: object, **__: object) -> None:
        raise AssertionError("downloaded although the wheelhouse for this key exists")

    assert build_wheelhouse(reqs, PINS, tmp_path, runner=no_network) == archive


def test_a_failed_download_is_one_line_naming_the_requirement(tmp_path: Path) -> None:
    reqs = write(tmp_path, "r.txt", "lightgbm==0.0.1\n")

    def failing(command: list[str], **_: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(command, 1, "", (
            "ERROR: Could not find a version that satisfies the requirement lightgbm==0.0.1\n"
            "ERROR: No matching distribution found for lightgbm==0.0.1\n"))

    with pytest.raises(WheelhouseError) as raised:
        build_wheelhouse(reqs, PINS, tmp_path, runner=failing)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cannot download lightgbm==0.0.1 for CPython 3.12")
    assert message.endswith("No matching distribution found for lightgbm==0.0.1")
    assert not list(tmp_path.glob("wheelhouse-*"))


@pytest.mark.network
@pytest.mark.slow
def test_real_wheelhouse_of_the_repository_requirements() -> None:
    destination = CACHE_ROOT / "wheelhouse"
    archive = build_wheelhouse(REQUIREMENTS, PINS, destination)
    assert archive is not None and archive.is_file()
    with tarfile.open(archive) as opened:
        names = opened.getnames()
    assert any(name.startswith("matplotlib-3.10.8-cp312-cp312-manylinux") for name in names)
    assert not any(name.startswith(("numpy-", "pillow-", "packaging-")) for name in names)
    wanted = {req.name for req in parse_requirements(REQUIREMENTS)}
    got = {name.split("-")[0].lower().replace("_", "-") for name in names if name.endswith(".whl")}
    assert got == wanted  # every transitive dependency the image lacks is pinned in the file


@pytest.mark.network
@pytest.mark.slow
def test_real_download_failure_names_the_missing_version(tmp_path: Path) -> None:
    reqs = write(tmp_path, "r.txt", "matplotlib==0.0.0\n")
    with pytest.raises(WheelhouseError, match=r"^cannot download matplotlib==0\.0\.0 .*"):
        build_wheelhouse(reqs, PINS, tmp_path)
