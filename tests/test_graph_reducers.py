"""Reducers: declared with Annotated on the state model, recorded in the manifest, applied on JSON."""

from __future__ import annotations

import copy
import operator
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from azure_functions_durable_graph import DurableGraphError, InvalidUpdateError, reducers
from azure_functions_durable_graph.graph.reducers import (
    BUILTIN_REDUCERS,
    FieldReducer,
    apply_builtin,
    reducer_fits,
    reducer_from_metadata,
)
from azure_functions_durable_graph.graph.state import state_reducers
from graph_helpers import builder, noop


def keep_longest(current: Any, update: Any) -> Any:
    """A custom reducer."""
    return update if len(update) > len(current or "") else current


class ReducerState(BaseModel):
    plain: str = ""
    explicit_replace: Annotated[int, reducers.replace] = 0
    appended: Annotated[list[str], reducers.append] = []
    extended: Annotated[list[int], reducers.extend] = []
    unioned: Annotated[list[str], "union"] = []
    merged: Annotated[dict[str, int], reducers.merge] = {}
    added_number: Annotated[int, operator.add] = 0
    added_list: Annotated[list[str], reducers.add] = []
    longest: Annotated[str, keep_longest] = ""
    last_wins: Annotated[list[str], reducers.append, reducers.union] = []
    with_constraint: Annotated[list[str], Field(max_length=10), reducers.extend] = []
    described: Annotated[str, "just a note"] = ""


def _registration():
    return (
        builder("reducing", ReducerState)
        .set_entrypoint("a")
        .add_node("a", noop, terminal=True)
        .build()
    )


def test_manifest_records_every_field_reducer() -> None:
    assert _registration().manifest.reducers == {
        "plain": "replace",
        "explicit_replace": "replace",
        "appended": "append",
        "extended": "extend",
        "unioned": "union",
        "merged": "merge",
        "added_number": "add",
        "added_list": "add",
        "longest": "custom",
        "last_wins": "union",
        "with_constraint": "extend",
        "described": "replace",
    }


def test_custom_reducers_stay_in_the_registration() -> None:
    registration = _registration()
    assert dict(registration.custom_reducers) == {"longest": keep_longest}
    assert "keep_longest" not in registration.manifest.model_dump_json()


def test_lambda_and_builtin_function_are_custom() -> None:
    class S(BaseModel):
        biggest: Annotated[int, max] = 0
        product: Annotated[int, lambda a, b: a * b] = 1

    found = state_reducers(S)
    assert found["biggest"] == FieldReducer("custom", max)
    assert found["product"].name == "custom" and callable(found["product"].function)


def test_reducer_from_metadata_forms() -> None:
    assert reducer_from_metadata([]) is None
    assert reducer_from_metadata(["not a reducer", 3]) is None
    assert reducer_from_metadata([reducers.merge]) == FieldReducer("merge")
    assert reducer_from_metadata(["extend"]) == FieldReducer("extend")
    assert reducer_from_metadata([operator.add]) == FieldReducer("add")
    assert reducer_from_metadata([keep_longest, reducers.append]) == FieldReducer("append")
    assert reducer_from_metadata([reducers.append, keep_longest]) == FieldReducer(
        "custom", keep_longest
    )


def test_reducer_objects() -> None:
    assert [
        r.name
        for r in (
            reducers.replace,
            reducers.append,
            reducers.extend,
            reducers.merge,
            reducers.add,
            reducers.union,
            reducers.messages,
        )
    ] == list(BUILTIN_REDUCERS)
    assert repr(reducers.append) == "reducers.append"


def test_reducer_inside_an_optional_annotated_field_is_kept() -> None:
    class S(BaseModel):
        items: Annotated[list[str], reducers.append] | None = None

    assert state_reducers(S)["items"].name == "append"


# --- apply_builtin ------------------------------------------------------------------------------

APPLY = [
    ("replace", 1, 2, 2),
    ("replace", [1], None, None),
    ("append", [1], 2, [1, 2]),
    ("append", None, "x", ["x"]),
    ("append", [1], [2], [1, [2]]),
    ("extend", [1], [2, 3], [1, 2, 3]),
    ("extend", None, [1], [1]),
    ("extend", [1], [], [1]),
    ("union", [1, 2], [2, 3], [1, 2, 3]),
    ("union", [1], 1, [1]),
    ("union", None, "a", ["a"]),
    ("union", [], [1, 1, 2], [1, 2]),
    ("union", [{"k": 1}], [{"k": 1}, {"k": 2}], [{"k": 1}, {"k": 2}]),
    ("merge", {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("merge", {"a": 1}, {"a": 2}, {"a": 2}),
    ("merge", None, {"a": 1}, {"a": 1}),
    ("add", 1, 2, 3),
    ("add", 1.5, 1, 2.5),
    ("add", "ab", "c", "abc"),
    ("add", [1], [2], [1, 2]),
    ("add", None, 5, 5),
]


@pytest.mark.parametrize(("name", "current", "update", "expected"), APPLY)
def test_apply_builtin(name: str, current: Any, update: Any, expected: Any) -> None:
    before = copy.deepcopy(current)
    assert apply_builtin(name, "field", current, update) == expected
    assert current == before  # the current value is never mutated


APPLY_ERRORS = [
    ("extend", [1], 2, "'extend' reducer and needs a list, got int"),
    ("extend", [1], "ab", "needs a list, got str"),
    ("merge", {"a": 1}, [1], "'merge' reducer and needs an object, got list"),
    ("add", [1], 2, "'add' reducer on a list and needs a list, got int"),
    ("add", 1, "x", "'add' reducer but 1 + 'x' failed"),
    ("add", {"a": 1}, {"b": 2}, "'add' reducer but"),
    ("custom", 1, 2, "unknown reducer 'custom'"),
    ("bogus", 1, 2, "unknown reducer 'bogus'"),
]


@pytest.mark.parametrize(("name", "current", "update", "message"), APPLY_ERRORS)
def test_apply_builtin_rejects_bad_updates(
    name: str, current: Any, update: Any, message: str
) -> None:
    with pytest.raises(InvalidUpdateError) as info:
        apply_builtin(name, "my_field", current, update)
    assert isinstance(info.value, DurableGraphError)
    assert info.value.code == "INVALID_UPDATE"
    assert "field 'my_field'" in info.value.message
    assert message in info.value.message


# --- reducer_fits -------------------------------------------------------------------------------


class Nested(BaseModel):
    x: int = 0


FITS = [
    ("replace", int, True),
    ("replace", Nested, True),
    ("custom", str, True),
    ("append", list[str], True),
    ("append", typing.List[int], True),  # noqa: UP006
    ("append", tuple[int, ...], True),
    ("append", set[str], True),
    ("append", frozenset[str], True),
    ("append", Sequence[str], True),
    ("append", list[str] | None, True),
    ("append", typing.Optional[list[str]], True),  # noqa: UP045
    ("append", Any, True),
    ("append", list, True),
    ("append", str, False),
    ("append", int, False),
    ("append", dict[str, int], False),
    ("extend", list[int], True),
    ("extend", str, False),
    ("union", set[int], True),
    ("union", Nested, False),
    ("merge", dict[str, int], True),
    ("merge", dict, True),
    ("merge", Mapping[str, int], True),
    ("merge", dict[str, Any] | None, True),
    ("merge", list[str], False),
    ("merge", Nested, False),
    ("merge", str, False),
    ("add", int, True),
    ("add", float, True),
    ("add", str, True),
    ("add", list[int], True),
    ("add", int | None, True),
    ("add", bool, False),
    ("add", dict[str, int], False),
    ("add", int | str, False),
    ("add", Nested, False),
    ("bogus", int, False),
]


@pytest.mark.parametrize(
    ("name", "annotation", "fits"), FITS, ids=[f"{n}-{a!r}" for n, a, _ in FITS]
)
def test_reducer_fits(name: str, annotation: Any, fits: bool) -> None:
    assert reducer_fits(name, annotation) is fits
