"""The one instance-id rule: the same answers on the local engine and on Azure (the emulator).

The package's rule is the Durable extension's start rule (``DurableClient.StartNewAsync``) plus
what keeps an id intact in the unescaped URLs of the Python Durable client; the emulator's host
refuses exactly what the extension refuses, and no more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from azure_functions_durable_graph.azure.emulator import DurableEmulator, EmulatorServer
from azure_functions_durable_graph.azure.emulator.errors import InvalidInstanceIdError
from azure_functions_durable_graph.errors import InvalidInputError
from azure_functions_durable_graph.execution.clock import ManualClock
from azure_functions_durable_graph.execution.instance_ids import (
    MAX_INSTANCE_ID_UNITS,
    RULE,
    check_instance_id,
    durable_id_problem,
    instance_id_problem,
    utf16_units,
)
from emulator_apps import app
from http_conformance import ENGINES, HttpEngine
from scenarios import build_wait_event

EMOJI = "\U0001f600"  # one code point, two UTF-16 code units

# Ids the extension refuses on start, each with the reason it gives.
DURABLE_REFUSED = [
    ("@entity", "must not start with @"),
    ("a/b", "must not contain"),
    ("a\\b", "must not contain"),
    ("a#b", "must not contain"),
    ("a?b", "must not contain"),
    ("a\nb", "must not contain"),
    ("a\x7fb", "must not contain"),
    ("a\x85b", "must not contain"),  # C1 controls are char.IsControl too
    ("x" * (MAX_INSTANCE_ID_UNITS + 1), "must not exceed 256"),
    (EMOJI * 129, "must not exceed 256"),  # 129 code points, 258 UTF-16 units
]
# Ids the extension accepts that the package refuses too (they would not survive the URL).
URL_REFUSED = ["a%41", "%", ".", "..", " lead", "trail ", "  ", "\ud800x", ""]
# Odd ids both accept: each must start, be found, take an event and be listed on both engines.
ACCEPTED = ["a b", "a@b", "ü-ñ", EMOJI + "x", "a+b;c&d=e", "[x]{y}<z>", "a'b\"c", "...", "a.", ".a",
            "x" * MAX_INSTANCE_ID_UNITS, EMOJI * (MAX_INSTANCE_ID_UNITS // 2)]


@pytest.mark.parametrize(("instance_id", "reason"), DURABLE_REFUSED)
def test_the_extensions_rule_refuses(instance_id: str, reason: str) -> None:
    assert reason in (durable_id_problem(instance_id) or "")
    assert instance_id_problem(instance_id) is not None


@pytest.mark.parametrize("instance_id", URL_REFUSED)
def test_the_package_refuses_what_a_url_would_change(instance_id: str) -> None:
    assert instance_id_problem(instance_id) is not None
    if instance_id and "\ud800" not in instance_id:
        assert durable_id_problem(instance_id) is None  # the host itself would take it


@pytest.mark.parametrize("instance_id", ACCEPTED)
def test_accepted_ids(instance_id: str) -> None:
    assert instance_id_problem(instance_id) is None and durable_id_problem(instance_id) is None


def test_length_counts_utf16_code_units() -> None:
    assert utf16_units(EMOJI * 128) == 256 and utf16_units("ü" * 256) == 256
    assert instance_id_problem(EMOJI * 128) is None
    assert instance_id_problem(EMOJI * 128 + "x") is not None


def test_the_error_names_the_id_and_states_the_rule() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_instance_id("@x", graph="g")
    assert caught.value.code == "INVALID_INPUT" and caught.value.http_status == 400
    assert "'@x'" in caught.value.message and RULE in caught.value.message
    assert "graph 'g'" in caught.value.message
    assert caught.value.details == {"instance_id": "@x", "rule": RULE}
    assert check_instance_id(None) is None and check_instance_id("ok-1") == "ok-1"


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[HttpEngine]:
    with ENGINES[request.param](build_wait_event()) as served:
        yield served


def _start(engine: HttpEngine, instance_id: Any) -> httpx.Response:
    return engine.client.post("/api/graphs/wait_event/runs", json={"input": {}, "instance_id": instance_id})


def test_both_engines_refuse_the_same_ids_with_the_same_error(engine: HttpEngine) -> None:
    for instance_id in [*(i for i, _ in DURABLE_REFUSED), *(i for i in URL_REFUSED if "\ud800" not in i), 7]:
        response = _start(engine, instance_id)
        assert response.status_code == 400, (instance_id, response.text)
        error = response.json()["error"]
        assert error["code"] == "INVALID_INPUT"
        assert error["details"]["rule"] == RULE and RULE in error["message"]
        shown = instance_id if isinstance(instance_id, str) and len(instance_id) <= 80 else None
        if shown is not None:
            assert repr(shown) in error["message"]


def test_both_engines_serve_runs_under_every_accepted_id(engine: HttpEngine) -> None:
    for instance_id in ACCEPTED:
        started = _start(engine, instance_id)
        assert started.status_code == 202, (instance_id, started.text)
        assert started.json()["instance_id"] == instance_id
        assert engine.settle(instance_id)["status"] == "waiting"
        url = f"/api/runs/{quote(instance_id, safe='')}"
        assert engine.client.get(url).json()["instance_id"] == instance_id
        assert engine.client.post(f"{url}/events/go", json={}).status_code == 202
        assert engine.settle(instance_id)["status"] == "completed"
        assert engine.client.get(f"{url}/history").status_code == 200
    listed = engine.client.get("/api/runs", params={"limit": 100}).json()["runs"]
    assert sorted(r["instance_id"] for r in listed) == sorted(ACCEPTED)


def test_the_emulators_host_refuses_what_the_extension_refuses_on_start() -> None:
    emulator = DurableEmulator(app, clock=ManualClock(auto_advance=False))
    with EmulatorServer(emulator) as server, httpx.Client(base_url=server.base_url, timeout=10) as http:
        for instance_id, reason in DURABLE_REFUSED:
            with pytest.raises(InvalidInstanceIdError) as caught:
                server.call(emulator.start_new, "waiter", instance_id)
            assert reason in caught.value.message
            assert server.call(emulator.get_instance, instance_id) is None
        # Over the webhook: the 400 of HttpApiHandler's ArgumentException catch.
        start = "/runtime/webhooks/durabletask/orchestrators/waiter/"
        for instance_id in ("@entity", "x" * 257):
            refused = http.post(start + quote(instance_id, safe=""))
            assert refused.status_code == 400, instance_id
            assert refused.json()["Message"] == "One or more of the arguments submitted is incorrect"
            assert "must not" in refused.json()["ExceptionMessage"]
        # The host takes what only the package refuses, and the longest ids.
        for instance_id in ("a%41", " lead", EMOJI * 128, "x" * 256):
            assert http.post(start + quote(instance_id, safe="")).status_code == 202, instance_id
            assert server.call(emulator.get_instance, instance_id) is not None
