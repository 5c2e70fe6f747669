"""Clients generated from the served OpenAPI document work.

The example app (``examples/function_app.py``'s graphs) is served on loopback with an API key;
its ``/api/openapi.json`` goes through ``openapi-python-client`` (the dev extra, Python 3.11+)
and ``openapi-typescript`` (npm, ``make install``). The generated Python client, run in a
subprocess, starts a support-agent run, sends its approval and reads the final state, every
answer as a generated model. The TypeScript file must declare the document's schemas.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from client_servers import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]
KEY = "generated-key"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served() -> Any:
    """The example graphs on the local engine, on a loopback port, with an API key."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import function_app
    finally:
        sys.path.remove(str(ROOT / "examples"))
    app = build_local_app(list(function_app.runtime.registrations()), engine=LocalEngine(MemoryRunStore()),
                          api_key=KEY)
    with LoopbackServer(app) as server:
        yield server


def _document(server: LoopbackServer, folder: Path) -> Path:
    answer = httpx.get(f"{server.base_url}/api/openapi.json", headers={"x-functions-key": KEY}, timeout=30)
    answer.raise_for_status()
    path = folder / "openapi.json"
    path.write_text(json.dumps(answer.json()), encoding="utf-8")
    return path


USE_PYTHON_CLIENT = textwrap.dedent('''
    import sys, time
    from api_client import AuthenticatedClient
    from api_client.api.runs import get_run, send_approval, start_support_agent
    from api_client.models import (Approval, EventAccepted, Run, StartSupportAgentBody,
                                   SupportState)

    client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])
    body = StartSupportAgentBody(input_=SupportState(ticket="Where is my parcel?"), instance_id="gen-1")
    started = start_support_agent.sync(client=client, body=body, wait=10.0)
    assert isinstance(started, Run), started
    assert started.status == "waiting", started.status
    accepted = send_approval.sync("gen-1", client=client, body=Approval(approved=True, reviewer="ana"))
    assert isinstance(accepted, EventAccepted) and accepted.accepted is True, accepted
    deadline = time.monotonic() + 30
    while True:
        run = get_run.sync("gen-1", client=client)
        assert isinstance(run, Run), run
        if run.status in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert run.status == "completed", run.status
    state = SupportState.from_dict(run.output["state"])
    print(state.status, state.reviewer, state.approved)
''')


def test_openapi_python_client_generates_a_working_client(served: LoopbackServer, tmp_path: Path) -> None:
    generator = BIN / "openapi-python-client"
    if not generator.exists():
        pytest.skip("openapi-python-client is not installed (the dev extra installs it on Python 3.11+)")
    document = _document(served, tmp_path)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hooks
    made = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--output-path", str(tmp_path / "api_client"),
         "--meta", "none"], capture_output=True, text=True, env=env, timeout=300)
    assert made.returncode == 0 and "Error" not in made.stdout, made.stdout + made.stderr
    assert "Warning" not in made.stdout, made.stdout  # nothing of the document was skipped
    script = tmp_path / "use_client.py"
    script.write_text(USE_PYTHON_CLIENT, encoding="utf-8")
    used = subprocess.run([sys.executable, str(script), served.base_url, KEY], capture_output=True, text=True,
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert used.returncode == 0, used.stdout + used.stderr
    assert used.stdout.split() == ["sent", "ana", "True"]


def test_openapi_typescript_declares_every_schema(served: LoopbackServer, tmp_path: Path) -> None:
    generator = ROOT / "node_modules" / ".bin" / "openapi-typescript"
    if not generator.exists() or shutil.which("node") is None:
        pytest.skip("openapi-typescript is not installed (make install runs npm ci)")
    document = _document(served, tmp_path)
    made = subprocess.run([str(generator), str(document), "--output", str(tmp_path / "api.d.ts")],
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    declared = (tmp_path / "api.d.ts").read_text(encoding="utf-8")
    schemas = json.loads(document.read_text(encoding="utf-8"))["components"]["schemas"]
    missing = [name for name in schemas if f'"{name}": ' not in declared and f"{name}: " not in declared]
    assert not missing, f"schemas missing from the TypeScript file: {missing}"
    for operation in ("start_support_agent", "send_approval", "get_run", "purge_run"):
        assert f"{operation}: " in declared
