"""The ``durable-graph`` command line: ``validate``, ``graph``, errors and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import azure_functions_durable_graph
from azure_functions_durable_graph import GraphManifest
from cli_helpers import assert_one_error_line, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "cli"
QUICK = str(FIXTURES / "quick_app.py")
TWO = str(FIXTURES / "two_graphs.py")
INVALID = str(FIXTURES / "invalid_graph.py")
INVALID_AT_IMPORT = str(FIXTURES / "invalid_at_import.py")


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Loading a target puts its folder on sys.path; keep that from leaking between tests.
    monkeypatch.setattr(sys, "path", list(sys.path))


# validate --------------------------------------------------------------------------------


def test_validate_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", QUICK)
    assert code == 0, err
    assert re.fullmatch(r"ok my_graph 0\.1\.0 hash [0-9a-f]{12} 2 nodes\n", out)


def test_validate_invalid_graph_lists_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", INVALID)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok good 0.1.0 hash ")
    assert lines[1] == "invalid broken 0.1.0: 4 problems"
    problems = [line.strip() for line in lines[2:]]
    assert [p.split(" ")[0] for p in problems] == [
        "TARGET_UNKNOWN",
        "NODE_NO_EXIT",
        "NODE_UNREACHABLE",
        "NODE_UNREACHABLE",
    ]
    assert "(node 'start')" in problems[0] and "'missing'" in problems[0]


def test_validate_module_raising_at_import_is_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "validate", INVALID_AT_IMPORT)
    assert code == 1
    assert "Traceback" not in out + err
    assert "invalid eager: 2 problems" in out
    assert "ENTRYPOINT_UNKNOWN" in out and "TARGET_UNKNOWN" in out


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", "--json", INVALID)
    assert code == 1
    document = json.loads(out)
    assert document["valid"] is False
    good, broken = document["graphs"]
    assert good["valid"] is True and good["node_count"] == 1 and len(good["graph_hash"]) == 64
    assert broken["valid"] is False
    assert [p["code"] for p in broken["problems"]][:2] == ["TARGET_UNKNOWN", "NODE_NO_EXIT"]
    assert broken["problems"][0]["node"] == "start"


def test_validate_json_for_import_time_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", INVALID_AT_IMPORT, "--json")
    assert code == 1
    graphs = json.loads(out)["graphs"]
    assert [p["code"] for p in graphs[0]["problems"]] == ["ENTRYPOINT_UNKNOWN", "TARGET_UNKNOWN"]


# load errors -----------------------------------------------------------------------------


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "validate", str(tmp_path / "absent.py"))
    assert code == 2 and out == ""
    assert_one_error_line(err, "[TARGET_LOAD_FAILED]", "file not found", "absent.py")


def test_default_target_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "graph")
    assert code == 2
    assert_one_error_line(err, "function_app.py")


def test_syntax_error_in_module(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad_syntax.py"
    path.write_text("def broken(:\n    pass\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert_one_error_line(err, "[TARGET_LOAD_FAILED]", "SyntaxError", "line 1")


def test_import_error_in_module(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad_import.py"
    path.write_text("import module_that_does_not_exist_anywhere\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "graph", str(path))
    assert code == 2
    assert_one_error_line(err, "[TARGET_LOAD_FAILED]", "module_that_does_not_exist_anywhere")


def test_nothing_found(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text("VALUE = 1\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "validate", str(path))
    assert code == 2
    assert_one_error_line(err, "[TARGET_LOAD_FAILED]", "no graphs found")


def test_debug_prints_the_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "raises.py"
    path.write_text("raise RuntimeError('boom at import')\n", encoding="utf-8")
    for argv in (["--debug", "validate", str(path)], ["validate", str(path), "--debug"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2
        assert "Traceback (most recent call last)" in err
        assert "RuntimeError: boom at import" in err
        assert err.splitlines()[-1].startswith("durable-graph: error: [TARGET_LOAD_FAILED]")


# TARGET forms ----------------------------------------------------------------------------


def test_module_and_attribute_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"cli_pkg_{uuid.uuid4().hex[:8]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    source = (FIXTURES / "two_graphs.py").read_text(encoding="utf-8")
    (tmp_path / package / "graphs.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_cli(capsys, "validate", f"{package}.graphs:greeting")
    assert code == 0 and out.startswith("ok greeting ") and len(out.splitlines()) == 1
    code, out, _ = run_cli(capsys, "validate", f"{package}.graphs")
    assert code == 0 and [line.split()[1] for line in out.splitlines()] == ["greeting", "review"]
    code, _, err = run_cli(capsys, "validate", f"{package}.graphs:absent")
    assert code == 2
    assert_one_error_line(err, "[TARGET_LOAD_FAILED]", "no attribute 'absent'")


def test_quick_example_as_default_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "function_app.py").write_text(Path(QUICK).read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "validate")
    assert code == 0, err
    # Both the builder and the app hold the graph: it is listed once.
    assert len(out.splitlines()) == 1 and out.startswith("ok my_graph 0.1.0 ")
    code, out, _ = run_cli(capsys, "graph")
    assert code == 0 and out.startswith("flowchart TD")


# graph -----------------------------------------------------------------------------------


def test_graph_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "graph", QUICK, "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart TD"
    assert "    __start__ --> n_process" in lines
    assert "    n_process --> n_finalize" in lines
    assert "    n_finalize --> __end__" in lines


def test_graph_json_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "graph", QUICK, "--format", "json")
    assert code == 0
    manifest = GraphManifest.model_validate_json(out)
    assert manifest.graph_name == "my_graph"
    assert manifest.node_names == ["process", "finalize"]
    assert manifest.is_verified()
    assert manifest.to_mermaid() == _mermaid_of(capsys, QUICK)


def _mermaid_of(capsys: pytest.CaptureFixture[str], target: str) -> str:
    code, out, _ = run_cli(capsys, "graph", target)
    assert code == 0
    return out


def test_graph_needs_a_choice_among_several(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "graph", TWO)
    assert code == 2 and out == ""
    assert_one_error_line(err, "greeting", "review", "--graph")


def test_graph_selection(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "graph", TWO, "--graph", "review", "--format", "json")
    assert code == 0
    manifest = GraphManifest.model_validate_json(out)
    assert (manifest.graph_name, manifest.version) == ("review", "2.0.0")


def test_graph_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "graph", TWO, "--graph", "nope")
    assert code == 2 and out == ""
    assert_one_error_line(err, "[GRAPH_NOT_FOUND]", "'nope'", "greeting", "review")


def test_graph_of_an_invalid_graph(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "graph", INVALID, "--graph", "broken")
    assert code == 1 and out == ""
    assert "TARGET_UNKNOWN" in err and "Traceback" not in err


# top level -------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert azure_functions_durable_graph.__version__ in out


def test_no_command_and_bad_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2 and "validate" in err and "graph" in err
    code, _, err = run_cli(capsys, "graph", QUICK, "--format", "svg")
    assert code == 2 and "invalid choice" in err


def test_console_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    command = [sys.executable, "-m", "azure_functions_durable_graph.cli"]
    ok = subprocess.run(
        [*command, "validate", QUICK], capture_output=True, text=True, env=env, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("ok my_graph 0.1.0 ")
    missing = subprocess.run(
        [*command, "validate", str(tmp_path / "absent.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 2
    assert_one_error_line(missing.stderr, "[TARGET_LOAD_FAILED]")
