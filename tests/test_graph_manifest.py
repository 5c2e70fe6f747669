"""The portable manifest: JSON round trip, a graph_hash that identifies the graph, edges, subgraphs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import ValidationError, create_model

from azure_functions_durable_graph import (
    END,
    GraphManifest,
    GraphRegistration,
    RetryPolicy,
    WaitSpec,
    reducers,
)
from azure_functions_durable_graph.graph.manifest import compute_graph_hash
from graph_helpers import EXAMPLES_DIR, State, builder, load_example, load_module, no_route, noop

HEX64 = re.compile(r"[0-9a-f]{64}")


def _hash_in_subprocess(example: str, hash_seed: str) -> str:
    code = textwrap.dedent(
        """
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("some_other_name", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        (registration,) = module.runtime.registrations()
        print(registration.graph_hash)
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES_DIR / f"{example}.py")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def test_quick_example_builds_a_manifest() -> None:
    module = load_example("quick_example")
    manifest = module.builder.build().manifest
    assert manifest.graph_name == "my_graph"
    assert manifest.entrypoint == "process"
    assert manifest.node_names == ["process", "finalize"]
    assert manifest.node("process").next == ["finalize"]
    assert manifest.node("finalize").terminal is True
    assert manifest.reducers == {"message": "replace", "processed": "replace"}
    assert manifest.state_schema["required"] == ["message"]
    assert manifest.format_version == 1
    assert manifest.is_verified()


@pytest.mark.parametrize("example", ["quick_example", "content_classifier", "support_agent"])
def test_json_round_trip_is_byte_identical(example: str) -> None:
    manifest = load_example(example).builder.build().manifest
    dumped = manifest.model_dump_json()
    again = GraphManifest.model_validate_json(dumped)
    assert again.model_dump_json() == dumped
    assert again == manifest
    assert again.is_verified()
    assert again.graph_hash == manifest.graph_hash


@pytest.mark.parametrize("example", ["quick_example", "content_classifier", "support_agent"])
def test_graph_hash_is_sha256_hex(example: str) -> None:
    manifest = load_example(example).builder.build().manifest
    assert HEX64.fullmatch(manifest.graph_hash)
    assert manifest.graph_hash == compute_graph_hash(manifest)


@pytest.mark.parametrize("example", ["quick_example", "support_agent"])
def test_graph_hash_is_stable_across_processes_and_hash_seeds(example: str) -> None:
    in_process = load_example(example).builder.build().graph_hash
    seeds = ["0", "1", "12345", "random"]
    hashes = [_hash_in_subprocess(example, seed) for seed in seeds]
    assert hashes == [in_process] * len(seeds)


def test_hand_edited_manifest_is_rejected() -> None:
    manifest = load_example("quick_example").builder.build().manifest
    data = json.loads(manifest.model_dump_json())
    data["nodes"][0]["next"] = [END]
    with pytest.raises(ValidationError, match="does not match its content"):
        GraphManifest.model_validate(data)
    data.pop("graph_hash")
    recomputed = GraphManifest.model_validate(data)
    assert recomputed.is_verified()
    assert recomputed.graph_hash != manifest.graph_hash


GRAPH_MODULE = """
from typing import Annotated

from pydantic import BaseModel

from azure_functions_durable_graph import ManifestBuilder, reducers


class State(BaseModel):
    text: str
    log: Annotated[list[str], reducers.append] = []


def first(state):
    return {"log": "first from " + __name__}


def second(state):
    return {"log": "second from " + __name__}


builder = ManifestBuilder(graph_name="portable", state_model=State)
builder.set_entrypoint("first")
builder.add_node("first", first, next_node="second")
builder.add_node("second", second, terminal=True)
registration = builder.build()
"""


def test_graph_hash_does_not_depend_on_the_handlers_module(tmp_path: Path) -> None:
    (tmp_path / "alpha_handlers.py").write_text(GRAPH_MODULE)
    (tmp_path / "beta_handlers_elsewhere.py").write_text(GRAPH_MODULE)
    alpha = load_module(tmp_path / "alpha_handlers.py", "alpha_handlers")
    beta = load_module(tmp_path / "beta_handlers_elsewhere.py", "beta_handlers_elsewhere")
    assert alpha.first.__module__ != beta.first.__module__
    assert alpha.registration.handlers["first"] is not beta.registration.handlers["first"]
    assert alpha.registration.graph_hash == beta.registration.graph_hash
    assert (
        alpha.registration.manifest.model_dump_json()
        == beta.registration.manifest.model_dump_json()
    )


# --- what the hash covers ---------------------------------------------------------------------

BaseState = create_model(
    "HashState", value=(int, 0), log=(Annotated[list[str], reducers.append], [])
)


def _graph(
    state_model: Any = BaseState,
    *,
    a_next: Any = "b",
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    max_steps: int = 1000,
    join: bool = False,
) -> GraphRegistration:
    return (
        builder("hashed", state_model, max_steps=max_steps)
        .set_entrypoint("a")
        .add_node("a", noop, next_node=a_next, retry=retry, timeout=timeout)
        .add_node("b", noop, next_node="c")
        .add_node("c", noop, terminal=True, join=join)
        .build()
    )


VARIANTS: dict[str, Any] = {
    "next_node": lambda: _graph(a_next=["b", "c"]),
    "next_node_order": lambda: _graph(a_next=["c", "b"]),
    "retry_added": lambda: _graph(retry=RetryPolicy()),
    "retry_attempts": lambda: _graph(retry=RetryPolicy(max_attempts=5)),
    "timeout": lambda: _graph(timeout=30),
    "max_steps": lambda: _graph(max_steps=50),
    "join": lambda: _graph(join=True),
    "state_new_field": lambda: _graph(
        create_model(
            "HashState",
            value=(int, 0),
            log=(Annotated[list[str], reducers.append], []),
            extra=(str, ""),
        )
    ),
    "state_field_type": lambda: _graph(
        create_model("HashState", value=(str, "0"), log=(Annotated[list[str], reducers.append], []))
    ),
    "reducer": lambda: _graph(
        create_model("HashState", value=(int, 0), log=(Annotated[list[str], reducers.extend], []))
    ),
}


def test_rebuilding_the_same_graph_gives_the_same_hash() -> None:
    assert _graph().graph_hash == _graph().graph_hash
    assert (
        _graph(retry=RetryPolicy(max_attempts=5)).graph_hash
        == VARIANTS["retry_attempts"]().graph_hash
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_graph_hash_changes_with_the_graph(variant: str) -> None:
    base = _graph()
    changed = VARIANTS[variant]()
    assert changed.graph_hash != base.graph_hash
    assert changed.manifest.is_verified()


def test_all_variants_have_distinct_hashes() -> None:
    hashes = [_graph().graph_hash] + [make().graph_hash for make in VARIANTS.values()]
    assert len(set(hashes)) == len(hashes)


def test_reducer_change_alone_changes_the_hash() -> None:
    base, changed = _graph(), VARIANTS["reducer"]()
    assert base.manifest.state_schema == changed.manifest.state_schema
    assert base.manifest.reducers == {"value": "replace", "log": "append"}
    assert changed.manifest.reducers == {"value": "replace", "log": "extend"}


# --- edges --------------------------------------------------------------------------------------


def test_edges_of_the_examples() -> None:
    quick = load_example("quick_example").builder.build().manifest
    assert quick.edges == [{"source": "process", "target": "finalize", "kind": "static"}]

    classifier = load_example("content_classifier").builder.build().manifest
    assert classifier.edges == [
        {"source": "classify", "target": target, "kind": "conditional"}
        for target in ("handle_spam", "handle_question", "handle_other")
    ]

    agent = load_example("support_agent").builder.build().manifest
    wait = {
        "source": "draft_reply",
        "target": "apply_decision",
        "kind": "wait",
        "event": "approval",
    }
    timeout = {
        "source": "draft_reply",
        "target": "escalate",
        "kind": "timeout",
        "event": "approval",
    }
    assert agent.edges[:2] == [wait, timeout]
    assert {"source": "apply_decision", "target": "revise", "kind": "conditional"} in agent.edges
    assert {**wait, "source": "revise"} in agent.edges
    assert {e["kind"] for e in agent.edges} == {"conditional", "timeout", "wait"}


def test_edges_include_end_and_error_routes() -> None:
    manifest = (
        builder()
        .set_entrypoint("a")
        .add_node("a", noop, next_node=["b", END], on_error="oops")
        .add_node("b", noop, route=no_route, route_targets=[END])
        .add_node("oops", noop, terminal=True)
        .build()
        .manifest
    )
    assert manifest.edges == [
        {"source": "a", "target": "b", "kind": "static"},
        {"source": "a", "target": END, "kind": "static"},
        {"source": "a", "target": "oops", "kind": "error"},
        {"source": "b", "target": END, "kind": "conditional"},
    ]


# --- subgraphs ----------------------------------------------------------------------------------


def _child(terminal_node: str = "c") -> GraphRegistration:
    return (
        builder("child")
        .set_entrypoint(terminal_node)
        .add_node(terminal_node, noop, terminal=True)
        .build()
    )


def _parent(child: GraphRegistration) -> GraphRegistration:
    return (
        builder("parent")
        .set_entrypoint("prepare")
        .add_node("prepare", noop, next_node="sub")
        .add_subgraph("sub", child, next_node="finish", retry=RetryPolicy(max_attempts=2))
        .add_node("finish", noop, terminal=True)
        .build()
    )


def test_subgraph_node_embeds_the_child_manifest() -> None:
    child = _child()
    parent = _parent(child)
    spec = parent.manifest.node("sub")
    assert spec.kind == "subgraph"
    assert spec.subgraph == child.manifest
    assert spec.subgraph.graph_hash == child.graph_hash
    assert spec.retry == RetryPolicy(max_attempts=2)
    assert parent.subgraphs == {"sub": child}
    assert set(parent.handlers) == {"prepare", "finish"}
    assert {"source": "sub", "target": "finish", "kind": "static"} in parent.manifest.edges


def test_subgraph_manifest_round_trips() -> None:
    parent = _parent(_child())
    dumped = parent.manifest.model_dump_json()
    again = GraphManifest.model_validate_json(dumped)
    assert again.model_dump_json() == dumped
    assert again.is_verified()
    assert again.node("sub").subgraph is not None
    assert again.node("sub").subgraph.is_verified()


def test_parent_hash_follows_the_child_graph() -> None:
    assert _parent(_child()).graph_hash == _parent(_child()).graph_hash
    assert _parent(_child("other")).graph_hash != _parent(_child()).graph_hash


def test_manifest_lookups() -> None:
    manifest = load_example("support_agent").builder.build().manifest
    assert manifest.event("approval") is not None
    assert manifest.event("approval").has_handler is True
    assert manifest.event("nope") is None
    with pytest.raises(KeyError):
        manifest.node("nope")
    assert manifest.node("draft_reply").waits == [
        WaitSpec(event="approval", resume_node="apply_decision", on_timeout="escalate")
    ]
    assert manifest.node("revise").route_targets == ["close_unapproved"]


def test_metadata_and_version_travel_in_the_manifest() -> None:
    registration = (
        builder("meta", State, version="2.0.0", metadata={"owner": "team-a"})
        .set_entrypoint("a")
        .add_node("a", noop, terminal=True)
        .build()
    )
    assert registration.version == "2.0.0"
    assert registration.manifest.metadata == {"owner": "team-a"}
    assert (
        GraphManifest.model_validate_json(registration.manifest.model_dump_json())
        == registration.manifest
    )


SET_TARGETS_SCRIPT = """
from pydantic import BaseModel
from azure_functions_durable_graph import ManifestBuilder


class S(BaseModel):
    x: int = 0


def f(state):
    return None


b = ManifestBuilder("g", S).set_entrypoint("a")
b.add_node("a", f, route=f, route_targets={"bb", "cc", "dd", "ee", "ff", "gg"})
for name in ("bb", "cc", "dd", "ee", "ff", "gg"):
    b.add_node(name, f, terminal=True)
print(b.build().graph_hash)
"""


def test_route_targets_as_a_set_give_a_stable_hash() -> None:
    hashes = {
        subprocess.run(
            [sys.executable, "-c", SET_TARGETS_SCRIPT],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2", "3", "4")
    }
    assert len(hashes) == 1
