"""Issue 13, item 13: every URL ``durable-graph serve`` prints answers.

The banner names the inspector; the API URL (``/api/``) answers with a JSON index of the API;
``/ui`` and ``/ui/`` lead to the inspector instead of a JSON 404. Checked on the real Starlette
app (TestClient) for the banner's own lines, and on a real ``serve`` process of each engine by
reading what it printed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.cli.commands_serve import local_banner
from azure_functions_durable_graph.local.engine import LocalEngine
from azure_functions_durable_graph.local.store.memory import MemoryRunStore
from graph_helpers import EXAMPLES_DIR, load_example

URL = re.compile(r"https?://\S+")
STARTUP_SECONDS = 30.0


def _client(prefix: str = "/api") -> TestClient:
    registration = load_example("quick_example").runtime.get("my_graph")
    return TestClient(build_local_app([registration], engine=LocalEngine(MemoryRunStore()), prefix=prefix))


def _answers(client: httpx.Client | TestClient, url: str) -> httpx.Response:
    response = client.get(url, follow_redirects=True)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:200]}"
    return response


@pytest.mark.parametrize("prefix", ["/api", "/v2/", "/"])
def test_every_url_of_the_local_banner_answers(prefix: str, tmp_path: Path) -> None:
    lines = local_banner("http://testserver", prefix, ["my_graph"], tmp_path / "runs.db")
    urls = [match for line in lines for match in URL.findall(line)]
    assert lines[1] == "  inspector http://testserver/"
    assert len(urls) == (3 if prefix == "/" else 4)
    with _client(prefix) as client:
        for url in urls:
            _answers(client, url)


def test_the_api_url_is_a_json_index_whose_links_answer() -> None:
    with _client() as client:
        for path in ("/api/", "/api"):
            index = _answers(client, path).json()
            assert index["name"] == "azure-functions-durable-graph"
            assert index["links"]["inspector"] == "/"
            assert index["links"]["openapi"] == "/api/openapi.json"
            assert index["graphs"] == [{"name": "my_graph", "url": "/api/graphs/my_graph",
                                        "start": "/api/graphs/my_graph/runs"}]
            assert {"method": "POST", "path": "/api/graphs/{graph}/runs",
                    "summary": "Start a run of a graph"} in index["routes"]
        for link in index["links"].values():
            _answers(client, link)
        _answers(client, index["graphs"][0]["url"])


@pytest.mark.parametrize("path", ["/ui", "/ui/"])
def test_ui_leads_to_the_inspector(path: str) -> None:
    with _client() as client:
        first = client.get(path, follow_redirects=False)
        assert first.status_code == 307
        assert first.headers["location"] == "/"
        page = _answers(client, path)
        assert page.headers["content-type"].startswith("text/html")
        assert "durable-graph inspector" in page.text
        assert client.get("/ui/style.css").status_code == 200  # the assets stay where they were


def test_the_index_needs_no_key_and_the_api_still_does() -> None:
    registration = load_example("quick_example").runtime.get("my_graph")
    app = build_local_app([registration], engine=LocalEngine(MemoryRunStore()), api_key="k")
    with TestClient(app) as client:
        assert client.get("/api/").status_code == 200
        assert client.get("/api/graphs").status_code == 401


# --- the real command ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _banner_of_serve(engine: str, log: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    """Start ``serve`` on the quick example; its process and the URLs it printed."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "azure_functions_durable_graph.cli", "serve",
             str(EXAMPLES_DIR / "quick_example.py"), "--port", str(port), "--engine", engine,
             "--db", str(log.parent / "runs.db")],
            cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{text}")
        if "OpenAPI" in text:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0)
                return process, URL.findall(text)
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve did not start:\n{log.read_text(errors='replace')}")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to the server process")
@pytest.mark.parametrize("engine", ["local", "durable-emulator"])
def test_every_url_serve_prints_answers(engine: str, tmp_path: Path) -> None:
    process, urls = _banner_of_serve(engine, tmp_path / "serve.log")
    try:
        assert len(urls) >= 3, urls
        if engine == "local":
            assert any(u.endswith(":" + u.split(":")[2].split("/")[0] + "/") for u in urls)  # inspector
        with httpx.Client(timeout=10.0) as client:
            for url in urls:
                _answers(client, url)
            api = next(u for u in urls if u.endswith("/openapi.json")).removesuffix("/openapi.json")
            # Another Host name is refused on both engines (DNS rebinding)...
            refused = client.get(api.rstrip("/") + "/health", headers={"host": "evil.example"})
            assert (refused.status_code, refused.json()["error"]["code"]) == (421, "HOST_NOT_ALLOWED")
            # ...while runs still go through (the emulator's SDK client calls it back on loopback).
            started = client.post(api.rstrip("/") + "/graphs/my_graph/runs?wait=10", json={"input": {"message": "hi"}})
            assert started.status_code in (200, 201, 202), started.text
            assert started.json()["status"] == "completed", started.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_reload_factory_builds_the_app_serve_describes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve --reload`` hands uvicorn an import string; it must name a factory that works."""
    from uvicorn.importer import import_from_string

    from azure_functions_durable_graph.api.server import ENV_DB, ENV_PREFIX, ENV_TARGET
    from azure_functions_durable_graph.cli.reload_app import FACTORY

    monkeypatch.setenv(ENV_TARGET, str(Path(__file__).resolve().parent.parent / "examples" / "function_app.py"))
    monkeypatch.setenv(ENV_DB, str(tmp_path / "reload.db"))
    monkeypatch.setenv(ENV_PREFIX, "/api")
    factory = import_from_string(FACTORY)
    with TestClient(factory()) as client:
        assert client.get("/api/health").status_code == 200
        names = [g["name"] for g in client.get("/api/graphs").json()["graphs"]]
        assert "support_agent" in names
