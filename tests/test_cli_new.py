"""``durable-graph new``: the scaffolded Azure Functions project, and refusing to clobber."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

import azure_functions_durable_graph
from azure_functions_durable_graph import DurableGraphError
from azure_functions_durable_graph.cli import commands_new, entry
from cli_helpers import assert_one_error_line, run_cli

PROJECT_FILES = {
    "function_app.py",
    "host.json",
    "local.settings.json",
    "requirements.txt",
    "README.md",
    ".funcignore",
    ".gitignore",
}
# What `new` puts in the folder by default: the files and wheels/ with the package's wheel.
PROJECT_ENTRIES = PROJECT_FILES | {"wheels"}
WHEEL_NAME = (
    f"azure_functions_durable_graph-{azure_functions_durable_graph.__version__}-py3-none-any.whl"
)


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Loading a target puts its folder on sys.path; keep that from leaking between tests.
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    # Register the command when the entry point does not list it (yet).
    if commands_new not in entry.COMMANDS:
        monkeypatch.setattr(entry, "COMMANDS", (*entry.COMMANDS, commands_new))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def import_app(path: Path) -> ModuleType:
    name = f"scaffolded_app_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def project(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    code, out, err = run_cli(capsys, "new", "order-desk")
    assert code == 0, err
    assert err == ""
    return tmp_path / "order-desk"


# the files ---------------------------------------------------------------------------------


def test_creates_every_file_and_prints_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "new", "order-desk")
    assert code == 0, err
    folder = tmp_path / "order-desk"
    assert {p.name for p in folder.iterdir()} == PROJECT_ENTRIES
    assert [p.name for p in (folder / "wheels").iterdir()] == [WHEEL_NAME]
    assert "created project 'order-desk' (graph 'order_desk')" in out
    for name in PROJECT_FILES:
        assert re.search(rf"^  {re.escape(name)}$", out, re.MULTILINE), out
    # Running from this source tree (an editable install), the wheel is built from it.
    assert re.search(rf"^  wheels/{re.escape(WHEEL_NAME)}  \(built from the source in ", out, re.M)
    assert "next steps:" in out
    assert "durable-graph serve --engine durable-emulator" in out
    assert "func azure functionapp publish <APP>" in out


def test_host_json(project: Path) -> None:
    host = json.loads((project / "host.json").read_text(encoding="utf-8"))
    assert host["version"] == "2.0"
    assert "logging" in host
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    assert host["extensions"]["http"]["routePrefix"] == "api"
    hub = host["extensions"]["durableTask"]["hubName"]
    assert hub == "OrderDeskHub"
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,44}", hub)


def test_local_settings(project: Path) -> None:
    settings = json.loads((project / "local.settings.json").read_text(encoding="utf-8"))
    assert settings["IsEncrypted"] is False
    assert settings["Values"]["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert settings["Values"]["FUNCTIONS_WORKER_RUNTIME"] == "python"
    # Worker indexing is on by default since Functions host 4.28: the old flag is not needed.
    assert "AzureWebJobsFeatureFlags" not in settings["Values"]


def requirement_lines(project: Path) -> list[str]:
    return [
        line.strip()
        for line in (project / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_requirements_name_the_bundled_wheel_by_relative_path(project: Path) -> None:
    assert requirement_lines(project) == [
        "azure-functions",
        "azure-functions-durable",
        "azure-storage-blob",
        f"./wheels/{WHEEL_NAME}",
    ]
    with zipfile.ZipFile(project / "wheels" / WHEEL_NAME) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(
            f"azure_functions_durable_graph-{azure_functions_durable_graph.__version__}.dist-info/METADATA"
        )
    assert "azure_functions_durable_graph/__init__.py" in names
    assert "azure_functions_durable_graph/cli/scaffold/function_app.py.tmpl" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert b"\nName: azure-functions-durable-graph\n" in metadata


def test_no_wheel_names_the_package_with_a_floor_at_this_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "new", "order-desk", "--no-wheel")
    assert code == 0, err
    project = tmp_path / "order-desk"
    assert {p.name for p in project.iterdir()} == PROJECT_FILES
    assert "wheels/" not in out
    version = azure_functions_durable_graph.__version__
    assert requirement_lines(project) == [
        "azure-functions",
        "azure-functions-durable",
        "azure-storage-blob",
        f"azure-functions-durable-graph>={version}",
    ]
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "wheels/" not in readme
    assert "--no-build" in readme
    assert "\n\n\n" not in readme


def test_ignore_files(project: Path) -> None:
    funcignore = (project / ".funcignore").read_text(encoding="utf-8").splitlines()
    for entry_ in (
        ".venv",
        "venv",
        "__pycache__",
        ".durable-graph",
        "tests",
        "local.settings.json",
        ".git*",
    ):
        assert entry_ in funcignore
    gitignore = (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    for entry_ in ("local.settings.json", ".venv/", "__pycache__/", ".durable-graph/"):
        assert entry_ in gitignore
    assert ".python_packages/" in gitignore
    # The wheel and a local build's packages are deployed: neither ignore file may drop them.
    for path in (f"wheels/{WHEEL_NAME}", ".python_packages/lib/site-packages/x/__init__.py"):
        assert not ignored(funcignore, path), path
        if path.startswith("wheels/"):
            assert not ignored(gitignore, path), path


def ignored(patterns: list[str], path: str) -> bool:
    """Whether one of the gitignore-style patterns matches the path or one of its folders."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))] + parts
    for pattern in patterns:
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        pattern = pattern.rstrip("/").lstrip("/")
        if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates):
            return True
    return False


def test_readme_explains_local_runs_and_deployment(project: Path) -> None:
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# order-desk\n")
    assert "durable-graph serve\n" in readme
    assert "durable-graph serve --engine durable-emulator" in readme
    assert "/api/graphs/order_desk/runs" in readme
    assert "{{" not in readme
    # The two ways to publish: a remote build, or a local build into .python_packages.
    assert "func azure functionapp publish <APP> --build remote\n" in readme
    assert (
        "pip install -r requirements.txt --target .python_packages/lib/site-packages \\\n"
        "  --platform manylinux2014_x86_64 --only-binary=:all: --python-version 3.11\n"
        "func azure functionapp publish <APP> --no-build\n"
    ) in readme
    assert f"`./wheels/{WHEEL_NAME}`" in readme
    assert "| `wheels/` |" in readme
    # The Python version of the local build is the one of the app the README creates.
    assert "--runtime python --runtime-version 3.11" in readme
    assert "\n\n\n" not in readme


# the generated graph -----------------------------------------------------------------------


def test_function_app_is_the_quick_example_shape(project: Path) -> None:
    source = (project / "function_app.py").read_text(encoding="utf-8")
    ast.parse(source, filename="function_app.py")
    assert 'graph_name="order_desk",' in source
    assert "runtime = DurableGraphApp()" in source
    assert "runtime.register_registration(builder.build())" in source
    assert "app = runtime.function_app" in source
    assert "{{" not in source


def test_function_app_is_lint_clean_with_default_settings(project: Path) -> None:
    # What a user's own ruff (default line length, import sorting) says about the file.
    pytest.importorskip("ruff")
    path = str(project / "function_app.py")
    for args in (
        ["check", "--isolated", "--select", "E,F,I,B,UP,W"],
        ["format", "--isolated", "--check"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *args, path], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_validate_reports_the_graph_valid(
    capsys: pytest.CaptureFixture[str], project: Path
) -> None:
    code, out, err = run_cli(capsys, "validate", str(project / "function_app.py"))
    assert code == 0, out + err
    assert re.fullmatch(r"ok order_desk 0\.1\.0 hash [0-9a-f]{12} 3 nodes\n", out)


@pytest.mark.parametrize(
    ("text", "path", "reply"),
    [
        ("The  checkout page is DOWN!", ["prepare", "escalate"], "Escalated to the on-call team: "),
        ("Where is my invoice?", ["prepare", "answer"], "Thanks, we will get back to you about: "),
    ],
)
def test_generated_graph_runs(project: Path, text: str, path: list[str], reply: str) -> None:
    module = import_app(project / "function_app.py")
    runtime = module.runtime
    assert runtime.graph_names == ["order_desk"]
    result = runtime.get("order_desk").invoke({"text": text})
    assert result.status == "completed"
    assert result.node_sequence == path
    cleaned = " ".join(text.split())
    assert result.state.cleaned == cleaned
    assert result.state.reply == reply + cleaned
    assert len(result.state.log) == 2


# names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "graph", "hub"),
    [
        ("app", "app", "AppHub"),
        ("x", "x", "XHub"),
        ("My-App", "my_app", "MyAppHub"),
        ("order_desk2", "order_desk2", "OrderDesk2Hub"),
        ("a--b__c", "a__b__c", "ABCHub"),
    ],
)
def test_derived_names(name: str, graph: str, hub: str) -> None:
    names = commands_new.project_names(name)
    assert (names.graph_name, names.hub_name) == (graph, hub)


def test_hub_name_is_capped_at_45_characters() -> None:
    hub = commands_new.hub_name_for("a" * 63)
    assert len(hub) == 45
    assert hub.isalnum()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "1app",
        "my app",
        "../app",
        "apps/mine",
        ".hidden",
        "-app",
        "app!",
        "café",
        "con",
        "LPT1",
        "a" * 64,
    ],
)
def test_bad_name_is_one_error_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    code, out, err = run_cli(capsys, "new", "--", name)  # "--": names may start with "-"
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "[PROJECT_NAME_INVALID]")
    assert list(tmp_path.iterdir()) == []


def test_name_with_a_path_suggests_dir(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run_cli(capsys, "new", "apps/mine")
    assert_one_error_line(err, "--dir PATH")


# where it writes -----------------------------------------------------------------------------


def test_dir_option_and_existing_empty_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "deep" / "place"
    code, _, err = run_cli(capsys, "new", "billing", "--dir", str(target))
    assert code == 0, err
    assert {p.name for p in target.iterdir()} == PROJECT_ENTRIES
    assert not (tmp_path / "billing").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "new", "billing", "--dir", str(empty))
    assert code == 0, err
    assert {p.name for p in empty.iterdir()} == PROJECT_ENTRIES


def test_refuses_a_non_empty_folder_and_leaves_it_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "order-desk"
    folder.mkdir()
    (folder / "host.json").write_text('{"mine": true}', encoding="utf-8")
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    before = snapshot(folder)
    code, out, err = run_cli(capsys, "new", "order-desk")
    assert code == 2
    assert out == ""
    assert_one_error_line(err, "[PROJECT_EXISTS]", "order-desk", "--force")
    assert snapshot(folder) == before


def test_refuses_a_file_even_with_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "order-desk").write_text("a file", encoding="utf-8")
    code, _, err = run_cli(capsys, "new", "order-desk", "--force")
    assert code == 2
    assert_one_error_line(err, "[PROJECT_EXISTS]", "not a folder")
    assert (tmp_path / "order-desk").read_text(encoding="utf-8") == "a file"


def test_force_overwrites_project_files_and_keeps_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "order-desk"
    folder.mkdir()
    (folder / "host.json").write_text('{"mine": true}', encoding="utf-8")
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    code, out, err = run_cli(capsys, "new", "order-desk", "--force")
    assert code == 0, err
    assert "host.json  (overwritten)" in out
    assert "  function_app.py\n" in out
    host = json.loads((folder / "host.json").read_text(encoding="utf-8"))
    assert host["extensions"]["durableTask"]["hubName"] == "OrderDeskHub"
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert {p.name for p in folder.iterdir()} == PROJECT_ENTRIES | {"notes.txt"}


def test_force_refuses_a_folder_in_the_way_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "order-desk"
    (folder / "host.json").mkdir(parents=True)
    before = snapshot(folder)
    code, _, err = run_cli(capsys, "new", "order-desk", "--force")
    assert code == 2
    assert_one_error_line(err, "[SCAFFOLD_FAILED]", "host.json")
    assert snapshot(folder) == before
    assert [p.name for p in folder.iterdir()] == ["host.json"]


# errors and templates --------------------------------------------------------------------------


def test_errors_belong_to_the_package_family() -> None:
    with pytest.raises(DurableGraphError) as caught:
        commands_new.check_project_name("9lives")
    assert caught.value.code == "PROJECT_NAME_INVALID"
    assert issubclass(commands_new.ProjectExistsError, commands_new.ScaffoldError)


def test_every_template_is_used_and_fully_rendered() -> None:
    names = commands_new.project_names("demo")
    files = commands_new.render_project(names)
    assert set(files) == PROJECT_FILES
    for relative, text in files.items():
        assert not re.search(r"\{\{\w+\}\}", text), relative
        assert text.endswith("\n"), relative


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(commands_new.ScaffoldError, match="nope"):
        commands_new.render("{{nope}}", {})
