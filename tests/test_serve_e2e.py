"""``durable-graph serve`` end to end: a real server process on a loopback port, driven by httpx.

Every wait is bounded: the server must answer within STARTUP_SECONDS, runs must finish within
RUN_SECONDS, and the process must exit within EXIT_SECONDS of SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
STARTUP_SECONDS = 20.0
RUN_SECONDS = 10.0
EXIT_SECONDS = 10.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to the server process")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A ``serve`` subprocess and an httpx client for it."""

    def __init__(self, args: list[str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "azure_functions_durable_graph.cli", "serve", *args,
                 "--port", str(self.port)],
                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        self.http = httpx.Client(base_url=self.base, timeout=10.0)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                response = self.http.get("/api/health", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            assert response.status_code == 200
            return response.json()
        raise AssertionError(f"server did not answer within {STARTUP_SECONDS} s:\n{self.output()}")

    def interrupt(self) -> int:
        """SIGINT, then the exit code (killed and failed if it does not exit in time)."""
        self.http.close()
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=EXIT_SECONDS)
            raise AssertionError(
                f"server did not exit within {EXIT_SECONDS} s of SIGINT:\n{self.output()}") from None

    def stop(self) -> None:
        self.http.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=EXIT_SECONDS)


@contextmanager
def serving(args: list[str], cwd: Path, log: Path) -> Iterator[Server]:
    server = Server(args, cwd, log)
    try:
        yield server
    finally:
        server.stop()  # only if the test did not stop it already


def poll(server: Server, instance_id: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        run = server.http.get(f"/api/runs/{instance_id}").json()
        if until(run):
            return run
        assert time.monotonic() < deadline, f"run did not get there in {RUN_SECONDS} s: {run}"
        time.sleep(0.05)


def test_serve_support_agent_end_to_end(tmp_path: Path) -> None:
    target = str((EXAMPLES_DIR / "support_agent.py").resolve())
    db = str(tmp_path / "s.db")
    with serving([target, "--db", db], tmp_path, tmp_path / "first.log") as server:
        health = server.wait_ready()
        assert health == {"ok": True, "registered_graphs": ["support_agent"]}

        started = server.http.post("/api/graphs/support_agent/runs",
                                   json={"input": {"ticket": "My order has not arrived"}})
        assert started.status_code == 202, started.text
        instance_id = started.json()["instance_id"]
        assert started.headers["location"] == f"/api/runs/{instance_id}"
        waiting = poll(server, instance_id, lambda r: r["status"] == "waiting")
        assert waiting["waiting_for"][0]["event"] == "approval"

        sent = server.http.post(f"/api/runs/{instance_id}/events/approval",
                                json={"approved": True, "reviewer": "ana"})
        assert sent.status_code == 202, sent.text
        done = poll(server, instance_id, lambda r: r["status"] in ("completed", "failed", "cancelled"))
        assert done["status"] == "completed", done
        assert done["output"]["state"]["status"] == "sent"

        history = server.http.get(f"/api/runs/{instance_id}/history").json()
        assert [s["node"] for s in history["steps"]] == [
            "draft_reply", "event:approval", "apply_decision", "send_reply"]
        assert all(s["ok"] for s in history["steps"])
        assert server.http.get("/api/docs").status_code == 200
        assert server.http.get("/api/openapi.json").json()["openapi"] == "3.1.0"

        assert server.interrupt() == 0
        assert "Traceback" not in server.output()
        assert f"http://127.0.0.1:{server.port}/api/" in server.output()

    with serving([target, "--db", db], tmp_path, tmp_path / "second.log") as again:
        again.wait_ready()
        runs = again.http.get("/api/runs", params={"graph": "support_agent"}).json()["runs"]
        assert [(r["instance_id"], r["status"]) for r in runs] == [(instance_id, "completed")]
        assert again.http.get(f"/api/runs/{instance_id}").json()["output"]["state"]["status"] == "sent"
        assert again.interrupt() == 0


def test_waiting_run_survives_a_restart(tmp_path: Path) -> None:
    target = str((EXAMPLES_DIR / "support_agent.py").resolve())
    db = str(tmp_path / "w.db")
    with serving([target, "--db", db], tmp_path, tmp_path / "first.log") as server:
        server.wait_ready()
        started = server.http.post("/api/graphs/support_agent/runs?wait=5", json={"ticket": "Broken"})
        instance_id = started.json()["instance_id"]
        assert started.json()["status"] == "waiting"
        assert server.interrupt() == 0
    with serving([target, "--db", db], tmp_path, tmp_path / "second.log") as again:
        again.wait_ready()
        assert again.http.get(f"/api/runs/{instance_id}").json()["status"] == "waiting"
        sent = again.http.post(f"/api/runs/{instance_id}/events/approval",
                               json={"approved": True, "reviewer": "ana"})
        assert sent.status_code == 202
        assert poll(again, instance_id, lambda r: r["status"] == "completed")["output"]["state"]["status"] == "sent"
        assert again.interrupt() == 0


def test_serve_without_target_uses_function_app_py(tmp_path: Path) -> None:
    shutil.copyfile(EXAMPLES_DIR / "quick_example.py", tmp_path / "function_app.py")
    with serving([], tmp_path, tmp_path / "serve.log") as server:
        health = server.wait_ready()
        assert health == {"ok": True, "registered_graphs": ["my_graph"]}
        run = server.http.post("/api/graphs/my_graph/runs?wait=10", json={"message": "hello"})
        assert run.status_code == 200, run.text
        assert run.json()["output"]["state"] == {"message": "Done: hello", "processed": True}
        assert server.interrupt() == 0
    assert (tmp_path / ".durable-graph" / "runs.db").exists()  # the default database, under cwd


def test_sigint_stops_the_server_with_an_open_stream(tmp_path: Path) -> None:
    target = str((EXAMPLES_DIR / "support_agent.py").resolve())
    with serving([target, "--db", str(tmp_path / "t.db")], tmp_path, tmp_path / "serve.log") as server:
        server.wait_ready()
        run = server.http.post("/api/graphs/support_agent/runs?wait=5", json={"ticket": "Late"}).json()
        assert run["status"] == "waiting"
        opened = threading.Event()

        def follow() -> None:
            url = f"{server.base}/api/runs/{run['instance_id']}/stream"
            with contextlib.suppress(httpx.HTTPError), httpx.stream("GET", url, timeout=30.0) as response:
                opened.set()
                for _ in response.iter_lines():
                    pass

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert opened.wait(STARTUP_SECONDS)
        assert server.interrupt() == 0
        reader.join(EXIT_SECONDS)


def test_stream_follows_a_live_run_over_a_real_socket(tmp_path: Path) -> None:
    """Events arrive as they happen (before and after the wait) and the stream ends itself."""
    target = str((EXAMPLES_DIR / "support_agent.py").resolve())
    with serving([target, "--db", str(tmp_path / "l.db")], tmp_path, tmp_path / "serve.log") as server:
        server.wait_ready()
        run = server.http.post("/api/graphs/support_agent/runs?wait=5", json={"ticket": "Late"}).json()
        assert run["status"] == "waiting"
        events: list[str] = []
        saw_wait = threading.Event()
        ended = threading.Event()

        def follow() -> None:
            url = f"{server.base}/api/runs/{run['instance_id']}/stream"
            with httpx.stream("GET", url, timeout=30.0) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        events.append(line[len("event: "):])
                        if events[-1] == "waiting":
                            saw_wait.set()
                        if events[-1] == "end":
                            ended.set()
                            return

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        assert saw_wait.wait(STARTUP_SECONDS), events  # delivered while the stream stays open
        sent = server.http.post(f"/api/runs/{run['instance_id']}/events/approval",
                                json={"approved": True, "reviewer": "ana"})
        assert sent.status_code == 202
        assert ended.wait(STARTUP_SECONDS), events
        reader.join(EXIT_SECONDS)
        tokens = events.count("emit")  # the draft node streams its reply token by token
        assert tokens > 0 and events[2:2 + tokens] == ["emit"] * tokens, events
        assert [e for e in events if e != "emit"][:4] == ["run_started", "step_started", "task_completed", "waiting"]
        assert events[-2:] == ["run_completed", "end"] and "event_received" in events
