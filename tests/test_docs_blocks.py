"""Every code block of README.md and docs/*.md runs, and shows what it really prints.

The block rules are in ``doc_blocks`` (extraction, markers, comparisons). How a page runs:

- in a fresh project folder that holds the README's quick example as ``function_app.py``, a
  copy of ``examples/`` as ``examples/`` and the page's own ``<!-- file: NAME -->`` blocks (each
  page says so above its first block, so a reader can do the same);
- python blocks run there in one namespace (``monkeypatch.chdir``); ``<!-- sys.path: FOLDER -->``
  puts that folder of the project first on ``sys.path``;
- console commands run with bash in that folder, one after the other (runs stored by one
  command are there for the next), with ``PATH`` starting with the folder of this Python (so
  ``durable-graph`` and ``python`` are the installed ones), no ``DURABLE_GRAPH_*`` variables,
  and ``$?`` set to the exit code of the page's previous command;
- a ``<!-- serve -->`` block starts a real ``durable-graph serve`` (``test_serve_e2e.Server``) on
  a free loopback port and checks its banner; later commands and outputs of the page have
  ``7071`` replaced by that port. Every ``curl`` that sends a body says it is JSON.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from doc_blocks import (
    ROOT,
    Block,
    DocMismatch,
    check_namespace,
    compile_block,
    doc_pages,
    extract,
    json_differences,
    lines_match,
    parse_console,
    problems,
)
from test_serve_e2e import Server

PAGES = [page for page in doc_pages() if extract(page)]
COMMAND_SECONDS = 60


def test_every_block_is_classified() -> None:
    found = [problem for page in doc_pages() for block in extract(page) for problem in problems(block)]
    assert found == []


def quick_example() -> str:
    """The README's quick example (the block marked ``file: function_app.py``)."""
    (block,) = [b for b in extract("README.md") if b.marker("file") == "function_app.py"]
    return block.text


def test_the_readme_quick_example_is_the_shipped_one() -> None:
    assert quick_example() == (ROOT / "examples" / "quick_example.py").read_text(encoding="utf-8")


class PageRunner:
    """Runs the blocks of one page in order, in its project folder."""

    def __init__(self, page: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.page, self.folder, self.monkeypatch = page, folder, monkeypatch
        self.namespace: dict[str, Any] = {"__name__": "docs_page", **check_namespace(page)}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_GRAPH_")}
        self.env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + self.env.get("PATH", "")
        self.env["PYTHONUNBUFFERED"] = "1"  # stdout and stderr interleave as on a terminal
        self.exit_code = 0
        self.server: Server | None = None
        self.modules_before = set(sys.modules)

    def run(self, block: Block) -> None:
        if block.marker("not run") is not None:
            return
        if block.lang == "python":
            if (path := block.marker("sys.path")) is not None:
                self.monkeypatch.syspath_prepend(str(self.folder / path))
            exec(compile_block(block), self.namespace)
        elif block.marker("serve") is not None:
            self.serve(block)
        elif block.lang == "console":
            for command in parse_console(block):
                _, output = self.shell(command.command)
                self.compare(f"{self.page}:{command.line}", command.expected, output)
        elif block.lang == "json":
            shown = json.loads(block.text)
            if (command := block.marker("output of")) is not None:
                _, output = self.shell(command)
                differences = json_differences(shown, json.loads(output))
                assert differences == [], f"{block.where}: {command}: {differences}"

    def ported(self, text: str) -> str:
        if self.server is None:
            return text
        port = str(self.server.port)
        return text.replace("127.0.0.1:7071", f"127.0.0.1:{port}").replace("localhost:7071", f"localhost:{port}")

    def shell(self, command: str) -> tuple[int, str]:
        command = self.ported(command)
        if "curl" in command and " -d " in command:
            assert "Content-Type: application/json" in command, f"{self.page}: curl -d without JSON: {command}"
        done = subprocess.run(["bash", "-c", f"(exit {self.exit_code}); {command}"], cwd=self.folder,
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=COMMAND_SECONDS, check=False)
        self.exit_code = done.returncode
        return done.returncode, done.stdout

    def compare(self, where: str, expected: list[str], output: str) -> None:
        expected = [self.ported(line) for line in expected]
        if not lines_match(expected, output.splitlines()):
            raise DocMismatch(f"{where}: the page shows\n" + "\n".join(expected)
                              + "\n--- the command printed\n" + output)

    def serve(self, block: Block) -> None:
        assert self.server is None, f"{block.where}: one server per page"
        (command,) = parse_console(block)
        self.server = Server(shlex.split(command.command)[2:], self.folder, self.folder.parent / "serve.log")
        self.server.wait_ready()
        self.compare(f"{self.page}:{command.line}", command.expected, self.server.output())

    def finish(self) -> None:
        """Stop the server gracefully (it must exit 0)."""
        if self.server is not None:
            assert self.server.interrupt() == 0, self.server.output()

    def close(self) -> None:
        """Kill a server left running; forget the modules imported from the project folder."""
        if self.server is not None:
            self.server.stop()
        for name in set(sys.modules) - self.modules_before:
            file = getattr(sys.modules[name], "__file__", None)
            if file and Path(file).resolve().is_relative_to(self.folder.resolve()):
                del sys.modules[name]


def project_folder(tmp_path: Path, blocks: list[Block]) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "function_app.py").write_text(quick_example(), encoding="utf-8")
    for block in blocks:
        if (name := block.marker("file")) is not None:
            (folder / name).write_text(block.text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = extract(page)
    assert [p for block in blocks for p in problems(block)] == []
    folder = project_folder(tmp_path, blocks)
    monkeypatch.chdir(folder)
    runner = PageRunner(page, folder, monkeypatch)
    try:
        for block in blocks:
            runner.run(block)
        runner.finish()
    finally:
        runner.close()


# The checks themselves can fail -------------------------------------------------------------

def _block(text: str, lang: str = "python", markers: tuple[tuple[str, str], ...] = ()) -> Block:
    return Block("README.md", 10, lang, text, markers)


def _run(text: str) -> None:
    exec(compile_block(_block(text)), {"__name__": "docs_page", **check_namespace("README.md")})


@pytest.mark.parametrize("text", [
    'print("a", 1)  # a 1\n',
    'x = {"k": [1]}\nx  # {"k": [1]}\n',
    'import decimal\ndecimal.Decimal(2)  # Decimal(\'2\')\n',
    'import asyncio\nasync def main():\n    if True:\n        print(2)  # 2\nasyncio.run(main())\n',
    'len("ab")  # a call: an explanation\nx = 3  # an explanation too\n',
])
def test_shown_python_output_that_holds(text: str) -> None:
    _run(text)


@pytest.mark.parametrize(("text", "line"), [
    ('print("a")  # b\n', 11),
    ('x = 1\nx  # 2\n', 12),
    ('x = True\nx  # 1\n', 12),
    ('import asyncio\nasync def main():\n    for _ in [1]:\n        print(3)  # 2\nasyncio.run(main())\n', 14),
])
def test_shown_python_output_that_does_not_hold(text: str, line: int) -> None:
    with pytest.raises(DocMismatch, match=f"README.md:{line}:"):
        _run(text)


def test_console_matching() -> None:
    assert lines_match(["ok a (step 1, 3 ms)", "run 0123456789abcdef0123456789abcdef: completed"],
                       ["ok a (step 1, 12 ms)", "run fedcba9876543210fedcba9876543210: completed  "])
    assert lines_match(["first", "...", "last"], ["first", "last"])
    assert lines_match(["first", "  ...", "last"], ["first", "x", "y", "last"])
    assert lines_match(['  "at": "…', "tail..."], ['  "at": "2026-01-01"', "tail and more"])
    assert not lines_match(["first", "last"], ["first", "middle", "last"])
    assert not lines_match(["a"], ["b"])
    assert not lines_match(["a", "..."], [])
    assert not lines_match(["run ticket-42: waiting"], ["run ticket-43: waiting"])


def test_json_comparison() -> None:
    assert json_differences({"h": "c5e1…", "n": [1, None]}, {"h": "c5e1a5", "n": [1, None]}) == []
    assert json_differences({"h": "c5e1…"}, {"h": "d5e1"}) == ["$.h: shown 'c5e1…', got 'd5e1'"]
    assert json_differences({"v": True}, {"v": 1}) == ["$.v: shown True, got 1"]
    assert json_differences({"a": 1}, {"a": 1, "b": 2}) == ["$: shown keys ['a'], got ['a', 'b']"]
    assert json_differences([1], [1, 2]) == ["$: shown 1 items, got 2"]


@pytest.mark.parametrize(("markers", "lang", "text", "problem"), [
    ((("not run", ""),), "console", "$ x\n", "'not run' needs a reason"),
    ((), "bash", "make test\n", "language 'bash' is not run"),
    ((), "console", "output\n$ x\n", "is output of no command"),
    ((("skip", ""),), "python", "x = 1\n", "unknown marker 'skip'"),
    ((("serve", ""),), "console", "$ durable-graph run\n", "holds one 'durable-graph serve'"),
    ((("file", "a.py"),), "json", "{}\n", "marker 'file' is for python blocks"),
    ((), "python", "async with x:\n    pass\n", "not Python"),
])
def test_unclassified_blocks_are_reported(markers: Any, lang: str, text: str, problem: str) -> None:
    (found,) = problems(_block(text, lang, markers))
    assert found.startswith("README.md:10: ") and problem in found
