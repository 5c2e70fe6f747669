"""``runs list|show|cancel`` and ``events send`` with ``--url``: a server's runs, through the client.

The server is the local engine on a loopback port with an API key (what ``durable-graph
serve --api-key`` runs) and the Durable emulator; the commands never open a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azure_functions_durable_graph.cli import main
from azure_functions_durable_graph.client import DurableGraphClient
from client_servers import LOOPBACK_ENGINES, local_loopback
from test_client import FAST, build_tally

KEY = "cli-key"


def test_runs_and_events_talk_to_a_served_engine(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no database is made: the commands go to the server
    with local_loopback(build_tally(), api_key=KEY) as engine, \
            DurableGraphClient(engine.base_url, KEY, retry=FAST) as client:
        client.wait(client.start("tally", {}, instance_id="c-1").instance_id, timeout=30)
        client.start("tally", {}, instance_id="c-2")
        server = ["--url", engine.base_url, "--api-key", KEY]
        capsys.readouterr()

        assert main(["runs", "show", "c-1", *server]) == 0
        shown = capsys.readouterr().out.splitlines()
        assert shown[0] == "run c-1: waiting (graph tally 0.1.0, step 1)"
        assert shown[1] == "  waiting for event 'add' at node talk"

        assert main(["events", "send", "c-1", "add", '{"n": 3, "last": true}', *server]) == 0
        sent = capsys.readouterr().out
        assert sent.startswith("run c-1: completed\n") and json.loads(sent.split("\n", 1)[1])["total"] == 3

        monkeypatch.setenv("DURABLE_GRAPH_URL", engine.base_url)
        monkeypatch.setenv("DURABLE_GRAPH_API_KEY", KEY)
        assert main(["runs", "cancel", "c-2", "--reason", "no need", "--json"]) == 0
        cancelled = json.loads(capsys.readouterr().out)
        assert (cancelled["status"], cancelled["cancel"]["reason"]) == ("cancelled", "no need")
        assert main(["runs", "list", "--limit", "1"]) == 0
        assert len(capsys.readouterr().out.splitlines()) == 1
        assert main(["runs", "list", "--json"]) == 0
        assert sorted(r["instance_id"] for r in json.loads(capsys.readouterr().out)) == ["c-1", "c-2"]

        assert main(["runs", "show", "c-1", "--api-key", "wrong"]) != 0
        error = capsys.readouterr().err
        assert "UNAUTHORIZED" in error and len(error.strip().splitlines()) == 1
        assert main(["runs", "show", "missing"]) != 0
        assert "RUN_NOT_FOUND" in capsys.readouterr().err
    assert not (tmp_path / ".durable-graph").exists()


def test_events_send_to_the_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    with LOOPBACK_ENGINES["emulator"](build_tally()) as engine, \
            DurableGraphClient(engine.base_url, retry=FAST) as client:
        client.wait(client.start("tally", {}, instance_id="e-1").instance_id, timeout=30)
        capsys.readouterr()
        assert main(["events", "send", "e-1", "add", '{"n": 1}', "--url", engine.base_url]) == 3
        assert capsys.readouterr().out == "run e-1: waiting\n"  # waits for the next 'add'
        assert main(["events", "send", "e-1", "add", '{"n": 2, "last": true}', "--url", engine.base_url,
                     "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["output"]["state"]["total"] == 3
