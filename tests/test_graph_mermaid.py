"""Mermaid diagrams of manifests."""

from __future__ import annotations

import re

import pytest

from azure_functions_durable_graph import END, GraphManifest, RouteDecision
from azure_functions_durable_graph.graph.mermaid import manifest_to_mermaid
from graph_helpers import builder, load_example, no_route, noop


def _manifest(example: str) -> GraphManifest:
    return load_example(example).builder.build().manifest


def test_quick_example_diagram_exactly() -> None:
    assert _manifest("quick_example").to_mermaid() == (
        "flowchart TD\n"
        '    __start__(["START"])\n'
        '    __end__(["END"])\n'
        '    n_process["process"]\n'
        '    n_finalize["finalize"]\n'
        "    __start__ --> n_process\n"
        "    n_process --> n_finalize\n"
        "    n_finalize --> __end__\n"
    )


@pytest.mark.parametrize("example", ["quick_example", "content_classifier", "support_agent"])
def test_every_diagram_has_start_end_and_each_node_once(example: str) -> None:
    manifest = _manifest(example)
    text = manifest.to_mermaid()
    assert text == manifest_to_mermaid(manifest)
    lines = text.splitlines()
    assert lines[:3] == ["flowchart TD", '    __start__(["START"])', '    __end__(["END"])']
    assert f"    __start__ --> n_{manifest.entrypoint}" in lines
    for name in manifest.node_names:
        assert sum(1 for line in lines if line.startswith(f"    n_{name}[")) == 1
    assert any(line.endswith("--> __end__") for line in lines)


def test_router_edges_are_dotted() -> None:
    lines = _manifest("content_classifier").to_mermaid().splitlines()
    for target in ("handle_spam", "handle_question", "handle_other"):
        assert f"    n_classify -.-> n_{target}" in lines
        assert f"    n_{target} --> __end__" in lines
    assert not any(line.startswith("    n_classify --> ") for line in lines)


def test_waits_are_labelled_with_the_event() -> None:
    lines = _manifest("support_agent").to_mermaid().splitlines()
    assert '    n_draft_reply -. "wait: approval" .-> n_apply_decision' in lines
    assert '    n_draft_reply -. "timeout: approval" .-> n_escalate' in lines
    assert '    n_revise -. "wait: approval" .-> n_apply_decision' in lines
    assert "    n_revise -.-> n_close_unapproved" in lines
    assert "    n_apply_decision -.-> n_send_reply" in lines


def test_join_subgraph_error_and_end_shapes() -> None:
    child = builder("child").set_entrypoint("c").add_node("c", noop, terminal=True).build()
    manifest = (
        builder()
        .set_entrypoint("split")
        .add_node("split", noop, next_node=["left", "right"], on_error="oops")
        .add_node("left", noop, next_node="merge")
        .add_subgraph("right", child, next_node="merge")
        .add_node("merge", noop, join=True, route=no_route, route_targets=[END])
        .add_node("oops", noop, next_node=END)
        .build()
        .manifest
    )
    lines = manifest.to_mermaid().splitlines()
    assert '    n_merge{{"merge"}}' in lines
    assert '    n_right[["right"]]' in lines
    assert '    n_left["left"]' in lines
    assert "    n_split --> n_left" in lines
    assert "    n_split --> n_right" in lines
    assert '    n_split -. "error" .-> n_oops' in lines
    assert "    n_merge -.-> __end__" in lines
    assert "    n_oops --> __end__" in lines


def test_names_are_made_safe() -> None:
    manifest = (
        builder()
        .set_entrypoint("fetch data")
        .add_node(
            "fetch data", noop, route=no_route, route_targets=[RouteDecision.next('say "hi"')]
        )
        .add_node('say "hi"', noop, terminal=True)
        .build()
        .manifest
    )
    text = manifest.to_mermaid()
    fetch = re.search(r'(n_fetch_data_[0-9a-f]{6})\["fetch data"\]', text)
    say = re.search(r'(n_say__hi__[0-9a-f]{6})\["say #quot;hi#quot;"\]', text)
    assert fetch and say
    assert f"    {fetch.group(1)} -.-> {say.group(1)}" in text
    for line in text.splitlines()[1:]:
        node_ids = re.findall(r"\b(n_\w*)", line)
        assert all(re.fullmatch(r"n_[A-Za-z0-9_]*", i) for i in node_ids)


def test_distinct_node_names_get_distinct_ids() -> None:
    manifest = (
        builder()
        .set_entrypoint("a-b")
        .add_node("a-b", noop, next_node="a_b")
        .add_node("a_b", noop, terminal=True)
        .build()
        .manifest
    )
    declarations = [line for line in manifest.to_mermaid().splitlines() if line.endswith('"]')]
    ids = [line.split("[", 1)[0].strip() for line in declarations]
    assert len(ids) == len(set(ids)) == 2
