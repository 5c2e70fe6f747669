"""A project made by ``durable-graph new`` installs into a fresh venv and runs there.

THIS TEST INSTALLS PACKAGES: it creates a virtual environment and runs ``pip install -r
requirements.txt`` in the new project (azure-functions, azure-functions-durable,
azure-storage-blob and the bundled wheel with their dependencies, from the configured package
index), then the local build of the README (``pip install --target
.python_packages/lib/site-packages`` for Linux).
It takes about a minute with a warm pip cache; every step has a timeout. Set
``DURABLE_GRAPH_SKIP_INSTALL_TESTS=1`` to skip it, or deselect it with ``-k "not install"``.

What it proves, end to end and with nothing faked:

- the scaffold's ``requirements.txt`` installs in a fresh venv, run from the project folder as
  the README (and Azure's remote build) runs it;
- ``function_app.py`` imports there and ``app`` is the Functions app the worker indexes
  (a ``FunctionRegister``) with the orchestrator, the activity and one HTTP function per
  route;
- ``durable-graph validate function_app.py`` passes with the installed CLI;
- ``durable-graph new`` run from that installed wheel re-packs the very same wheel;
- the README's local build puts everything the app imports into ``.python_packages``.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import azure_functions_durable_graph
from azure_functions_durable_graph.api.routes import ROUTES
from azure_functions_durable_graph.azure.protocol import ACTIVITY, ORCHESTRATOR

pytestmark = pytest.mark.skipif(
    os.environ.get("DURABLE_GRAPH_SKIP_INSTALL_TESTS") == "1",
    reason="installs packages into a fresh venv (DURABLE_GRAPH_SKIP_INSTALL_TESTS=1)",
)

INSTALL_TIMEOUT = 600  # seconds, per pip run
STEP_TIMEOUT = 120
VERSION = azure_functions_durable_graph.__version__
WHEEL_NAME = f"azure_functions_durable_graph-{VERSION}-py3-none-any.whl"
EXPECTED_FUNCTIONS = {ORCHESTRATOR, ACTIVITY} | {f"http_{spec.handler}" for spec in ROUTES}

# Run inside the fresh venv (or on .python_packages only), in the project folder.
CHECK_APP = """
import json, sys
{path_setup}
import azure.durable_functions as df
import azure.functions as func
import function_app
import azure_functions_durable_graph as package
app = function_app.app
print(json.dumps({{
    "register": isinstance(app, func.FunctionRegister),
    "dfapp": isinstance(app, df.DFApp),
    "functions": sorted(f.get_function_name() for f in app.get_functions()),
    "package": package.__file__,
    "graphs": function_app.runtime.graph_names,
}}))
"""


def clean_env() -> dict[str, str]:
    """This process's environment without what would leak its own venv into the fresh one."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def run(command: list[str], cwd: Path, timeout: float = STEP_TIMEOUT) -> str:
    """Run ``command`` in ``cwd``; its stdout, or a failure showing its output."""
    done = subprocess.run(
        command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, (
        f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def this_cli() -> list[str]:
    """The ``durable-graph`` command of the environment running the tests."""
    script = Path(sys.executable).with_name("durable-graph")
    return (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-m", "azure_functions_durable_graph.cli"]
    )


def venv_bin(venv: Path, name: str) -> str:
    return str(venv / ("Scripts" if os.name == "nt" else "bin") / name)


def wheel_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        return {
            name: archive.read(name) for name in archive.namelist() if not name.endswith("/RECORD")
        }


def test_fresh_venv_installs_the_scaffold_and_runs_its_app(tmp_path: Path) -> None:
    started = time.monotonic()
    out = run([*this_cli(), "new", "order-desk"], cwd=tmp_path)
    project = tmp_path / "order-desk"
    assert (project / "wheels" / WHEEL_NAME).is_file(), out

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv_bin(venv, "python")
    install_started = time.monotonic()
    run(
        [python, "-m", "pip", "install", "-r", "requirements.txt"],
        cwd=project,
        timeout=INSTALL_TIMEOUT,
    )
    install_seconds = time.monotonic() - install_started

    checked = json.loads(run([python, "-c", CHECK_APP.format(path_setup="")], cwd=project))
    assert checked["register"] and checked["dfapp"], checked
    assert set(checked["functions"]) == EXPECTED_FUNCTIONS
    assert checked["graphs"] == ["order_desk"]
    assert Path(checked["package"]).resolve().is_relative_to(venv.resolve())  # not this checkout

    validated = run([venv_bin(venv, "durable-graph"), "validate", "function_app.py"], cwd=project)
    assert re.fullmatch(r"ok order_desk 0\.1\.0 hash [0-9a-f]{12} 3 nodes\n", validated)

    # The installed CLI, running from the wheel, bundles the same wheel again (re-packed).
    out = run([venv_bin(venv, "durable-graph"), "new", "second"], cwd=tmp_path)
    assert f"  wheels/{WHEEL_NAME}  (re-packed from the installed package)" in out
    second = tmp_path / "second" / "wheels" / WHEEL_NAME
    assert wheel_members(second) == wheel_members(project / "wheels" / WHEEL_NAME)

    print(
        f"\nfresh-venv install: {install_seconds:.1f} s; whole test so far {time.monotonic() - started:.1f} s"
    )


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() != "x86_64",
    reason="the README's local build fetches manylinux x86_64 wheels; checked where they import",
)
def test_readme_local_build_fills_python_packages(tmp_path: Path) -> None:
    run([*this_cli(), "new", "order-desk"], cwd=tmp_path)
    project = tmp_path / "order-desk"
    readme = (project / "README.md").read_text(encoding="utf-8")
    command = re.search(
        r"^(pip install -r requirements\.txt --target [^\n]*\\\n[^\n]*)$", readme, re.M
    )
    assert command is not None
    args = command.group(1).replace("\\\n", " ").split()[1:]
    # The README targets the app's Python 3.11; check with the Python running the tests.
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    args[args.index("--python-version") + 1] = here
    started = time.monotonic()
    run([sys.executable, "-m", "pip", *args], cwd=project, timeout=INSTALL_TIMEOUT)
    seconds = time.monotonic() - started
    packages = project / ".python_packages" / "lib" / "site-packages"
    assert (packages / "azure_functions_durable_graph" / "__init__.py").is_file()

    # What the Functions host does with a --no-build deployment: no site-packages of its own,
    # .python_packages/lib/site-packages on sys.path, the project folder as the working folder.
    setup = "sys.path.insert(0, '.python_packages/lib/site-packages')"
    checked = json.loads(
        run([sys.executable, "-S", "-c", CHECK_APP.format(path_setup=setup)], cwd=project)
    )
    assert checked["register"] and checked["dfapp"], checked
    assert set(checked["functions"]) == EXPECTED_FUNCTIONS
    assert Path(checked["package"]).resolve().is_relative_to(packages.resolve())
    print(f"\nlocal build into .python_packages: {seconds:.1f} s")
