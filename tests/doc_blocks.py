"""Reading the code blocks of README.md and docs/*.md, and checking what they show.

The rules (tests/test_docs_blocks.py runs every block by them):

- Every fenced block is found with its page and line. HTML comments on the lines directly above
  a fence are its markers: ``<!-- not run: REASON -->`` (the only way to skip a block; the
  reason is required), ``<!-- file: NAME -->`` (a python block that is also the file NAME in
  the page's folder), ``<!-- sys.path: FOLDER -->`` (the page's python blocks import from
  FOLDER from then on), ``<!-- serve -->`` (a console block holding one ``durable-graph
  serve`` command, started in the background for the blocks after it) and
  ``<!-- output of: COMMAND -->`` (a json block that is COMMAND's output).
- ``json`` blocks parse with ``json.loads``; compared with an output, a string ending in ``…``
  stands for any string starting with what comes before it.
- ``python`` blocks of a page run in order in one namespace. ``print(...)  # text`` must print
  exactly ``text``; a bare expression that is not a call or an await, followed by ``# text``,
  must equal ``ast.literal_eval(text)`` or, when ``text`` is not a literal, have ``repr`` equal
  to ``text``. Comments on other statements explain and are not checked.
- ``console`` blocks: ``$ cmd`` is a command (a trailing ``\\`` continues it on the next line),
  the lines up to the next ``$`` its expected stdout and stderr. Both sides are compared line by
  line after trailing white space is dropped and ``N ms`` timings and 32-hex run ids are
  normalised; an expected line ``...`` matches any number of lines, and one ending in ``…`` or
  ``...`` any line starting with what comes before.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("python", "console", "json")
MARKERS = ("not run", "file", "sys.path", "serve", "output of")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>[a-z. ]+?)\s*(?::\s*(?P<value>.*?))?\s*-->\s*$")


class DocMismatch(AssertionError):
    """A block's shown output differs from what it really prints or returns."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its page (relative to the repository), fence line, language and text."""

    page: str
    line: int
    lang: str
    text: str
    markers: tuple[tuple[str, str], ...]

    @property
    def where(self) -> str:
        """``page:line`` of the opening fence."""
        return f"{self.page}:{self.line}"

    def marker(self, name: str) -> str | None:
        """The value of marker ``name`` ("" when it has none), or None when absent."""
        return next((value for key, value in self.markers if key == name), None)


def doc_pages() -> list[str]:
    """README.md and every docs/*.md, relative to the repository."""
    return ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]


def extract(page: str) -> list[Block]:
    """Every fenced block of ``page`` with the markers directly above it."""
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent):] if lines[end].startswith(indent) else lines[end])
            end += 1
        markers: list[tuple[str, str]] = []
        above = index - 1
        while above >= 0 and (found := _MARKER.match(lines[above])):
            markers.insert(0, (found["name"], found["value"] or ""))
            above -= 1
        info = opening["info"].strip()
        blocks.append(Block(page, index + 1, info.split()[0] if info else "", "\n".join(body) + "\n",
                            tuple(markers)))
        index = end + 1
    return blocks


def problems(block: Block) -> list[str]:
    """Why ``block`` cannot be classified (empty when it can)."""
    found = [f"unknown marker '{name}'" for name, _ in block.markers if name not in MARKERS]
    reason = block.marker("not run")
    if reason is not None:
        if not reason:
            found.append("'not run' needs a reason")
        if len(block.markers) > 1:
            found.append("'not run' goes alone")
        return [f"{block.where}: {text}" for text in found]
    if block.lang not in LANGUAGES:
        found.append(f"language {block.lang or '(none)'!r} is not run: mark it '<!-- not run: REASON -->'")
    wrong = {"file": "python", "sys.path": "python", "serve": "console", "output of": "json"}
    found += [f"marker '{name}' is for {lang} blocks" for name, lang in wrong.items()
              if block.marker(name) is not None and block.lang != lang]
    if block.lang == "console":
        try:
            commands = parse_console(block)
        except ValueError as error:
            found.append(str(error))
        else:
            if block.marker("serve") is not None and (
                    len(commands) != 1 or not commands[0].command.startswith("durable-graph serve")):
                found.append("a 'serve' block holds one 'durable-graph serve' command")
    if block.lang == "json":
        try:
            json.loads(block.text)
        except ValueError as error:
            found.append(f"not JSON: {error}")
    if block.lang == "python":
        try:
            compile(block.text, block.where, "exec", dont_inherit=True)
        except SyntaxError as error:
            found.append(f"not Python: {error.msg} (block line {error.lineno})")
    return [f"{block.where}: {text}" for text in found]


# console ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One ``$`` command of a console block, its file line and the lines it shows."""

    line: int
    command: str
    expected: list[str]


def parse_console(block: Block) -> list[Command]:
    """The commands of a console block (ValueError when text comes before the first ``$``)."""
    commands: list[Command] = []
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        text = lines[index]
        if not text.startswith("$ "):
            raise ValueError(f"line {block.line + 1 + index} is output of no command: {text!r}")
        start = index
        parts = [text[2:]]
        while parts[-1].endswith("\\") and index + 1 < len(lines):
            index += 1
            parts.append(lines[index])
        index += 1
        expected = []
        while index < len(lines) and not lines[index].startswith("$ "):
            expected.append(lines[index])
            index += 1
        commands.append(Command(block.line + 1 + start, "\n".join(parts), expected))
    return commands


def normalise(line: str) -> str:
    """A line without trailing white space, its timings and generated run ids made constant."""
    line = re.sub(r"\b\d+ ms\b", "N ms", line.rstrip())
    return re.sub(r"\b[0-9a-f]{32}\b", "<run id>", line)


def _line_matches(expected: str, actual: str) -> bool:
    for tail in ("…", "..."):
        if expected.endswith(tail):
            return actual.startswith(expected[: -len(tail)])
    return expected == actual


def lines_match(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` reads as ``expected`` shows it (both normalised first)."""
    want = [normalise(line) for line in expected]
    got = [normalise(line) for line in actual]
    # reachable[j]: the expected lines so far can account for exactly got[:j].
    reachable = [True] + [False] * len(got)
    for pattern in want:
        if pattern.strip() == "...":
            for j in range(1, len(got) + 1):
                reachable[j] = reachable[j] or reachable[j - 1]
            continue
        reachable = [False] + [reachable[j] and _line_matches(pattern, got[j])
                               for j in range(len(got))]
    return reachable[-1]


# json ------------------------------------------------------------------------------------------

def json_differences(shown: Any, actual: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from ``shown`` (a string ending in ``…`` is a prefix)."""
    if isinstance(shown, str) and shown.endswith("…"):
        if isinstance(actual, str) and actual.startswith(shown[:-1]):
            return []
        return [f"{path}: shown {shown!r}, got {actual!r}"]
    if isinstance(shown, dict) and isinstance(actual, dict):
        if list(shown) != list(actual):
            return [f"{path}: shown keys {list(shown)}, got {list(actual)}"]
        return [d for key in shown for d in json_differences(shown[key], actual[key], f"{path}.{key}")]
    if isinstance(shown, list) and isinstance(actual, list):
        if len(shown) != len(actual):
            return [f"{path}: shown {len(shown)} items, got {len(actual)}"]
        return [d for i, (s, a) in enumerate(zip(shown, actual, strict=True)) for d in json_differences(s, a, f"{path}[{i}]")]
    if type(shown) is not type(actual) or shown != actual:
        return [f"{path}: shown {shown!r}, got {actual!r}"]
    return []


# python ----------------------------------------------------------------------------------------

def trailing_comments(source: str) -> dict[int, str]:
    """Line number -> text of a comment that follows code on that line."""
    comments: dict[int, str] = {}
    code_on: set[int] = set()
    skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.start[0] in code_on:
            comments[token.start[0]] = token.string[1:].strip()
        elif token.type not in skip:
            code_on.update(range(token.start[0], token.end[0] + 1))
    return comments


class _ShownOutput(ast.NodeTransformer):
    def __init__(self, comments: dict[int, str], offset: int) -> None:
        self.comments, self.offset = comments, offset

    def visit_Expr(self, node: ast.Expr) -> ast.stmt:
        comment = self.comments.get(node.end_lineno or node.lineno)
        if comment is None:
            return node
        where = ast.Constant((node.end_lineno or node.lineno) + self.offset)
        value = node.value
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print":
            check = ast.Call(ast.Name("__printed__", ast.Load()), [ast.Constant(comment), where], [])
            return ast.copy_location(ast.With([ast.withitem(check)], [node]), node)
        if isinstance(value, (ast.Call, ast.Await)):
            return node  # an explanation, not a shown value
        call = ast.Call(ast.Name("__shown__", ast.Load()), [value, ast.Constant(comment), where], [])
        return ast.copy_location(ast.Expr(call), node)


def compile_block(block: Block) -> Any:
    """The block's code, with its shown outputs turned into checks, numbered as in its page."""
    tree = _ShownOutput(trailing_comments(block.text), block.line).visit(ast.parse(block.text))
    ast.increment_lineno(tree, block.line)
    # dont_inherit: a block runs as its own module would, without this file's __future__ imports.
    return compile(ast.fix_missing_locations(tree), str(ROOT / block.page), "exec", dont_inherit=True)


def check_namespace(page: str) -> dict[str, Any]:
    """The helpers the compiled blocks of ``page`` call."""

    @contextlib.contextmanager
    def printed(expected: str, line: int) -> Iterator[None]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            yield
        if buffer.getvalue() != expected + "\n":
            raise DocMismatch(f"{page}:{line}: shows {expected!r}, printed {buffer.getvalue()!r}")

    def shown(value: Any, comment: str, line: int) -> None:
        try:
            expected = ast.literal_eval(comment)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            if repr(value) != comment:
                raise DocMismatch(f"{page}:{line}: shows {comment}, repr is {value!r}") from None
            return
        if value != expected or isinstance(value, bool) != isinstance(expected, bool):
            raise DocMismatch(f"{page}:{line}: shows {comment}, value is {value!r}")

    return {"__printed__": printed, "__shown__": shown}
