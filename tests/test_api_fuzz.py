"""Property-based tests of every documented operation, generated from the served OpenAPI document.

Schemathesis calls the ASGI app in process (the local server with the shipped examples) and
checks that no response is a server error and that every response conforms to the document,
for valid requests (positive) and requests that break the document (negative). The stream
(infinite while a run waits), the HTML docs page and the document itself (Schemathesis leaves
the schema's own URL out) are not fuzzed.

Operations are listed at collection from the document itself (``build_openapi`` over the same
graphs, no server). Each test gets its own app and database: Schemathesis ends an ASGI app's
lifespan after every test, and the local server's engine is opened once per app.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from azure_functions_durable_graph import GraphRegistration
from azure_functions_durable_graph.api.openapi import build_openapi
from azure_functions_durable_graph.api.server import build_local_app
from graph_helpers import load_example

EXAMPLES = ("quick_example", "support_agent", "content_classifier")
EXCLUDED = ("/stream", "/docs", "/openapi.json")
MAX_EXAMPLES = 25
# Known failures found by this file (generation is derandomized, so they are reproducible).
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def registrations() -> list[GraphRegistration]:
    return [load_example(name).runtime.registrations()[0] for name in EXAMPLES]


class _Catalog:
    def __init__(self, graphs: list[GraphRegistration]) -> None:
        self._graphs = {g.graph_name: g for g in graphs}

    @property
    def graph_names(self) -> list[str]:
        return list(self._graphs)

    def versions(self, graph_name: str) -> list[str]:
        return [self._graphs[graph_name].version]

    def get(self, graph_name: str, version: str | None = None) -> GraphRegistration:
        return self._graphs[graph_name]


OPERATIONS = [
    (method.upper(), path)
    for path, item in build_openapi(_Catalog(registrations()))["paths"].items()
    for method in item
    if not path.endswith(EXCLUDED)
]


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    from schemathesis.python import asgi

    app = build_local_app(registrations(), db=tmp_path / "f.db")
    try:
        yield schemathesis.openapi.from_asgi("/api/openapi.json", app)  # starts the app's lifespan
    finally:
        asgi.shutdown_lifespans()  # closes the engine


def test_every_operation_is_fuzzed(api_schema: schemathesis.BaseSchema) -> None:
    served = {(op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())}
    assert {op for op in served if not op[1].endswith(EXCLUDED)} == set(OPERATIONS)
    assert len(OPERATIONS) >= 14


def _cases() -> list[object]:
    cases: list[object] = []
    for method, path in OPERATIONS:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            reason = KNOWN_BUGS.get((method, path, mode.value))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(method, path, mode, marks=marks, id=f"{method} {path}-{mode.value}"))
    return cases


def fuzz_operation(operation: Any, mode: GenerationMode, max_examples: int, **call: Any) -> None:
    """Call ``operation`` with generated requests; no server error, every response documented.

    An operation with nothing to negate (no body, only string parameters) is skipped in
    negative mode; ``call`` goes to each request (a timeout, say).
    """

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance], **call)

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        pytest.skip("nothing in this operation can be negated (no body, only string parameters or none)")


@pytest.mark.parametrize(("method", "path", "mode"), _cases())
def test_operation(api_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode) -> None:
    fuzz_operation(api_schema[path][method], mode, MAX_EXAMPLES)
