"""The wheel that ``durable-graph new`` bundles: built from source, re-packed, or given.

The re-pack test installs the wheel built from this source tree with pip (``--target``, no
dependencies, no index) and re-packs it from the installed files, as ``new`` does when it
runs from an installed wheel; the fresh-venv test (test_cli_new_install.py) does the same
through the CLI.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import azure_functions_durable_graph
from azure_functions_durable_graph.cli import commands_new, entry, scaffold_wheel
from cli_helpers import assert_one_error_line, run_cli

VERSION = azure_functions_durable_graph.__version__
WHEEL_NAME = f"azure_functions_durable_graph-{VERSION}-py3-none-any.whl"
DIST_INFO = f"azure_functions_durable_graph-{VERSION}.dist-info"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    if commands_new not in entry.COMMANDS:
        monkeypatch.setattr(entry, "COMMANDS", (*entry.COMMANDS, commands_new))


@pytest.fixture(scope="module")
def built() -> scaffold_wheel.BundledWheel:
    """The wheel built from this source tree by its build backend."""
    return scaffold_wheel.build_from_source(ROOT)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def record_lines(files: dict[str, bytes]) -> set[str]:
    return set(files[f"{DIST_INFO}/RECORD"].decode("utf-8").splitlines())


def test_this_source_tree_is_found_and_built(built: scaffold_wheel.BundledWheel) -> None:
    package_dir = Path(azure_functions_durable_graph.__file__).resolve().parent
    assert scaffold_wheel.source_root(package_dir) == ROOT
    assert built.filename == WHEEL_NAME
    assert built.origin == f"built from the source in {ROOT}"
    assert scaffold_wheel.check_wheel(built.filename, built.data) == VERSION
    # Built once per process for unchanged sources.
    assert scaffold_wheel.build_from_source(ROOT) is built


def test_repacked_from_an_installed_wheel_is_the_same_wheel(
    built: scaffold_wheel.BundledWheel, tmp_path: Path
) -> None:
    wheel = tmp_path / built.filename
    wheel.write_bytes(built.data)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    installed = target / DIST_INFO
    assert (installed / "INSTALLER").is_file()  # pip's own file, which the wheel must not get
    repacked = scaffold_wheel.repack_installed(metadata.Distribution.at(installed))
    assert repacked.filename == built.filename
    assert repacked.origin == "re-packed from the installed package"
    original, again = members(built.data), members(repacked.data)
    assert set(again) == set(original)
    for name, data in original.items():
        if not name.endswith("/RECORD"):
            assert again[name] == data, name
    assert record_lines(again) == record_lines(original)
    with zipfile.ZipFile(io.BytesIO(repacked.data)) as archive:
        assert archive.namelist()[-1] == f"{DIST_INFO}/RECORD"
        assert archive.testzip() is None


def test_a_file_changed_after_installation_is_refused(
    built: scaffold_wheel.BundledWheel, tmp_path: Path
) -> None:
    wheel = tmp_path / built.filename
    wheel.write_bytes(built.data)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    changed = target / "azure_functions_durable_graph" / "cli" / "common.py"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    with pytest.raises(scaffold_wheel.WheelUnavailableError, match="cli/common.py.*changed"):
        scaffold_wheel.repack_installed(metadata.Distribution.at(target / DIST_INFO))


def test_wheel_option_bundles_the_given_wheel(
    capsys: pytest.CaptureFixture[str], built: scaffold_wheel.BundledWheel, tmp_path: Path
) -> None:
    given = tmp_path / "downloads" / built.filename
    given.parent.mkdir()
    given.write_bytes(built.data)
    code, out, err = run_cli(capsys, "new", "billing", "--wheel", str(given))
    assert code == 0, err
    assert f"  wheels/{WHEEL_NAME}  (copied from {given})" in out
    assert (tmp_path / "billing" / "wheels" / WHEEL_NAME).read_bytes() == built.data
    requirements = (tmp_path / "billing" / "requirements.txt").read_text(encoding="utf-8")
    assert f"\n./wheels/{WHEEL_NAME}\n" in requirements


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("other-1.0-py3-none-any.whl", b"", "is not named like"),
        (WHEEL_NAME, b"not a zip", "not a zip file"),
        (WHEEL_NAME, None, "no single .dist-info/METADATA"),
        ("azure_functions_durable_graph-9.9.9-py3-none-any.whl", "wheel", "holds version"),
    ],
)
def test_wheel_option_refuses_what_is_not_this_packages_wheel(
    capsys: pytest.CaptureFixture[str],
    built: scaffold_wheel.BundledWheel,
    tmp_path: Path,
    filename: str,
    content: bytes | str | None,
    fragment: str,
) -> None:
    given = tmp_path / filename
    if content is None:  # a zip without metadata
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("azure_functions_durable_graph/__init__.py", "")
        content = buffer.getvalue()
    elif content == "wheel":  # the real wheel under another version's name
        content = built.data
    assert isinstance(content, bytes)
    given.write_bytes(content)
    code, out, err = run_cli(capsys, "new", "billing", "--wheel", str(given))
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "[WHEEL_UNAVAILABLE]", fragment)
    assert not (tmp_path / "billing").exists()


def test_a_missing_wheel_file_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_cli(capsys, "new", "billing", "--wheel", str(tmp_path / "nope.whl"))
    assert code == 2
    assert_one_error_line(err, "[WHEEL_UNAVAILABLE]", "cannot read the wheel")
    assert not (tmp_path / "billing").exists()


def test_no_wheel_and_wheel_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "new", "billing", "--no-wheel", "--wheel", "x.whl")
    assert code == 2
    assert "not allowed with argument" in err


def test_force_keeps_other_wheels_and_refuses_a_wheels_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "order-desk"
    (folder / "wheels").mkdir(parents=True)
    old = folder / "wheels" / "azure_functions_durable_graph-0.0.1-py3-none-any.whl"
    old.write_bytes(b"old")
    code, out, err = run_cli(capsys, "new", "order-desk", "--force")
    assert code == 0, err
    assert sorted(p.name for p in (folder / "wheels").iterdir()) == sorted([old.name, WHEEL_NAME])
    code, out, err = run_cli(capsys, "new", "order-desk", "--force")
    assert code == 0, err
    assert f"  wheels/{WHEEL_NAME}  (overwritten)  (built from the source in " in out

    other = tmp_path / "other"
    other.mkdir()
    (other / "wheels").write_text("a file", encoding="utf-8")
    code, _, err = run_cli(capsys, "new", "other", "--force")
    assert code == 2
    assert_one_error_line(err, "[SCAFFOLD_FAILED]", "wheels is a file")
    assert [p.name for p in other.iterdir()] == ["wheels"]
