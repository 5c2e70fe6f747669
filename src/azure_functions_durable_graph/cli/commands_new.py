"""``durable-graph new``: scaffold an Azure Functions (Python v2) project around a small graph.

The project's files are rendered from the templates in ``cli/scaffold/`` (package data, named
``*.tmpl`` so that neither git nor the tools of this repository treat them as live files) with
``{{placeholder}}`` substitution. Until the package is on a package index, the project also gets
the package's own wheel in ``wheels/``, named by path in its ``requirements.txt`` (see
:mod:`.scaffold_wheel` for how the wheel is made); ``--no-wheel`` names the package by version
instead. Everything is rendered, obtained and checked before anything is written, so a refused
or failed command leaves the disk untouched.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..graph.errors import DurableGraphError
from .scaffold_wheel import WHEEL_FOLDER, BundledWheel, this_wheel, wheel_from_file

PROJECT_NAME_INVALID = "PROJECT_NAME_INVALID"
PROJECT_EXISTS = "PROJECT_EXISTS"

# (template in cli/scaffold/, file written in the project), in the order they are printed.
FILES: tuple[tuple[str, str], ...] = (
    ("function_app.py.tmpl", "function_app.py"),
    ("host.json.tmpl", "host.json"),
    ("local.settings.json.tmpl", "local.settings.json"),
    ("requirements.txt.tmpl", "requirements.txt"),
    ("README.md.tmpl", "README.md"),
    ("funcignore.tmpl", ".funcignore"),
    ("gitignore.tmpl", ".gitignore"),
)

MAX_NAME_LENGTH = 63
HUB_MAX_LENGTH = 45  # task hub names: letters and digits, starting with a letter, 3 to 45
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_PLACEHOLDER_RE = re.compile(r"\{\{(\w+)\}\}")
# Folder names Windows refuses, whatever the extension or case.
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


class ScaffoldError(DurableGraphError):
    """``durable-graph new`` cannot create the project (printed as one line, exit code 2)."""

    code = "SCAFFOLD_FAILED"


class ProjectNameError(ScaffoldError):
    """The project NAME cannot be used as a folder name and graph name."""

    code = PROJECT_NAME_INVALID


class ProjectExistsError(ScaffoldError):
    """The project folder exists and is not empty (and ``--force`` was not given)."""

    code = PROJECT_EXISTS


@dataclass(frozen=True)
class ProjectNames:
    """The names derived from NAME: the graph, the Durable task hub, the package floor."""

    name: str
    graph_name: str
    hub_name: str
    package_version: str

    def values(self) -> dict[str, str]:
        """The template placeholders."""
        return {
            "name": self.name,
            "graph_name": self.graph_name,
            "hub_name": self.hub_name,
            "package_version": self.package_version,
        }


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register the ``new`` subcommand."""
    parser = subparsers.add_parser(
        "new",
        help="create an Azure Functions project with a starter graph",
        description=(
            "Create an Azure Functions (Python v2) project in the folder NAME (or --dir): "
            "function_app.py with a small graph, host.json, local.settings.json, "
            "requirements.txt, .funcignore, .gitignore, a README and, as the package is not on "
            "a package index yet, its wheel in wheels/ (named in requirements.txt). A folder "
            "that exists and is not empty is refused unless --force is given."
        ),
    )
    parser.add_argument(
        "name",
        metavar="NAME",
        help="project name: letters, digits, '-' and '_', starting with a letter; "
        "the graph is named after it",
    )
    parser.add_argument(
        "--dir",
        dest="directory",
        metavar="PATH",
        default=None,
        help="folder to create the project in (default: ./NAME)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an existing non-empty folder, overwriting files of the same names "
        "(other files are kept)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--no-wheel",
        action="store_true",
        help="do not bundle the package's wheel; requirements.txt names "
        "azure-functions-durable-graph>=VERSION, to be installed from your package index",
    )
    source.add_argument(
        "--wheel",
        dest="wheel_file",
        metavar="FILE",
        default=None,
        help="bundle this azure-functions-durable-graph wheel (default: the wheel of the "
        "package that runs this command, re-packed from its installed files or built from "
        "its source tree)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Create the project and print its files and the next steps; 0 on success."""
    names = project_names(args.name)
    folder = Path(args.directory) if args.directory else Path(args.name)
    force = bool(args.force)
    check_folder(folder, force=force)  # before the wheel: building it takes a few seconds
    wheel: BundledWheel | None = None
    if args.wheel_file:
        wheel = wheel_from_file(Path(args.wheel_file))
    elif not args.no_wheel:
        wheel = this_wheel()
    written = create_project(folder, names, force=force, wheel=wheel)
    print(f"created project '{names.name}' (graph '{names.graph_name}') in {folder}")
    for relative, overwritten in written:
        notes = ["overwritten"] if overwritten else []
        if wheel is not None and relative == wheel.relative_path:
            notes.append(wheel.origin)
        print(f"  {relative}{''.join(f'  ({note})' for note in notes)}")
    _print_next_steps(folder)
    return 0


def project_names(name: str) -> ProjectNames:
    """Check NAME and derive the graph name, the task hub name and the package floor."""
    check_project_name(name)
    return ProjectNames(
        name=name,
        graph_name=graph_name_for(name),
        hub_name=hub_name_for(name),
        package_version=package_version(),
    )


def check_project_name(name: str) -> None:
    """Raise :class:`ProjectNameError` unless NAME is usable as a folder and graph name."""
    rule = (
        "use letters, digits, '-' and '_', starting with a letter, "
        f"at most {MAX_NAME_LENGTH} characters"
    )
    if not _NAME_RE.fullmatch(name):
        hint = (
            " (to create the project elsewhere, use --dir PATH)"
            if "/" in name or "\\" in name
            else ""
        )
        raise ProjectNameError(f"project name {name!r} is not usable: {rule}{hint}")
    if len(name) > MAX_NAME_LENGTH:
        raise ProjectNameError(f"project name {name!r} is too long: {rule}")
    if name.lower() in _RESERVED:
        raise ProjectNameError(f"project name {name!r} is a reserved device name on Windows")


def graph_name_for(name: str) -> str:
    """``My-App`` -> ``my_app``: lower case, ``-`` becomes ``_``."""
    return name.lower().replace("-", "_")


def hub_name_for(name: str) -> str:
    """``my-app`` -> ``MyAppHub``: letters and digits only, 3 to 45 characters."""
    parts = [part for part in re.split(r"[-_]+", name) if part]
    hub = "".join(part[0].upper() + part[1:] for part in parts) + "Hub"
    hub = re.sub(r"[^A-Za-z0-9]", "", hub)
    return hub[:HUB_MAX_LENGTH]


def package_version() -> str:
    """This package's version, for the ``>=`` floor in the project's requirements."""
    from .._version import __version__

    version = __version__
    if not version:  # pragma: no cover - only when the module attribute is missing
        from importlib.metadata import version as installed_version

        version = installed_version("azure-functions-durable-graph")
    return version.split("+", 1)[0]  # a local version label is not valid in a floor


def render_project(names: ProjectNames, wheel_filename: str | None = None) -> dict[str, str]:
    """Every project file's text, keyed by its path in the project.

    With ``wheel_filename`` (the bundled wheel's name in ``wheels/``) requirements.txt names
    that wheel by path; without, it names the package with a floor at this version.
    """
    values = {**names.values(), **_package_values(names, wheel_filename)}
    scaffold = resources.files(__package__ or "azure_functions_durable_graph.cli") / "scaffold"
    rendered: dict[str, str] = {}
    for template, target in FILES:
        text = render(scaffold.joinpath(template).read_text(encoding="utf-8"), values)
        if target.endswith(".json"):
            json.loads(text)  # a broken template must fail here, not in the Functions host
        rendered[target] = text
    return rendered


def _package_values(names: ProjectNames, wheel_filename: str | None) -> dict[str, str]:
    """The placeholders that depend on how the project gets azure-functions-durable-graph."""
    if wheel_filename is None:
        return {
            "package_requirement": f"azure-functions-durable-graph>={names.package_version}",
            "wheel_row": "",
            "install_note": "",
            "publish_wheel_note": "",
        }
    path = f"{WHEEL_FOLDER}/{wheel_filename}"
    return {
        "package_requirement": (
            "# azure-functions-durable-graph is not on a package index yet: its wheel is in\n"
            f"# {WHEEL_FOLDER}/. pip reads this path from the folder it runs in: run pip in this\n"
            "# folder (Azure's remote build runs it in the project root).\n"
            f"./{path}"
        ),
        "wheel_row": (
            f"\n| `{WHEEL_FOLDER}/` | the wheel of azure-functions-durable-graph "
            "(not on a package index yet), named in `requirements.txt` |"
        ),
        "install_note": (
            "\n`requirements.txt` names the wheel of azure-functions-durable-graph by its path, "
            f"`./{path}`,\nwhich pip reads from the folder it runs in: run `pip install -r "
            "requirements.txt` in this folder.\nOnce the package is on your package index, "
            "replace that line with\n"
            f"`azure-functions-durable-graph>={names.package_version}` and delete "
            f"`{WHEEL_FOLDER}/`.\n"
        ),
        "publish_wheel_note": (
            f"; `{WHEEL_FOLDER}/` is uploaded too, and the remote build installs the wheel "
            "from there"
        ),
    }


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``{{key}}``; an unknown key is a bug in the template."""

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ScaffoldError(f"template placeholder '{key}' has no value")
        return values[key]

    return _PLACEHOLDER_RE.sub(substitute, template)


def create_project(
    folder: Path,
    names: ProjectNames,
    *,
    force: bool = False,
    wheel: BundledWheel | None = None,
) -> list[tuple[str, bool]]:
    """Write the project into ``folder``; returns ``(file, overwritten)`` per file written.

    ``wheel`` is bundled in ``wheels/`` and named in requirements.txt; without it,
    requirements.txt names the package by version. A folder that exists and is not empty is
    refused unless ``force``; with ``force`` only the project's own files are (over)written,
    anything else in the folder (other wheels in ``wheels/`` too) is kept.
    """
    files = render_project(names, wheel.filename if wheel is not None else None)
    check_folder(folder, force=force, wheel=wheel)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in files.items():
        path = folder / relative
        overwritten = path.exists()
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append((relative, overwritten))
    if wheel is not None:
        path = folder / wheel.relative_path
        overwritten = path.exists()
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(wheel.data)
        written.append((wheel.relative_path, overwritten))
    return written


def check_folder(folder: Path, *, force: bool, wheel: BundledWheel | None = None) -> None:
    """Raise unless the project can be written into ``folder`` (see :func:`create_project`)."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ProjectExistsError(f"'{folder}' exists and is not a folder; nothing was written")
    if force:
        files = [name for _, name in FILES]
        if wheel is not None:
            files.append(wheel.relative_path)
        in_the_way = [name for name in files if (folder / name).is_dir()]
        if in_the_way:
            raise ScaffoldError(
                f"cannot write into '{folder}': {', '.join(in_the_way)} is a folder; "
                "nothing was written"
            )
        if (folder / WHEEL_FOLDER).exists() and not (folder / WHEEL_FOLDER).is_dir():
            raise ScaffoldError(
                f"cannot write into '{folder}': {WHEEL_FOLDER} is a file, not a folder; "
                "nothing was written"
            )
        return
    entries = sum(1 for _ in folder.iterdir())
    if entries:
        raise ProjectExistsError(
            f"folder '{folder}' is not empty ({entries} entr{'y' if entries == 1 else 'ies'}); "
            "nothing was written. Use --force to write the project files into it (files of the "
            "same names are overwritten, others are kept)"
        )


def _print_next_steps(folder: Path) -> None:
    print("next steps:")
    steps = (
        (f"cd {shlex.quote(str(folder))}", ""),
        ("python -m venv .venv && . .venv/bin/activate", ""),
        ("pip install -r requirements.txt", ""),
        ("durable-graph validate", "check the graph"),
        ("durable-graph serve", "HTTP API and inspector on the embedded SQLite engine"),
        ("durable-graph serve --engine durable-emulator", "the Functions app itself, locally"),
        ("func azure functionapp publish <APP>", "deploy (see README.md)"),
    )
    width = max(len(command) for command, _ in steps)
    for command, comment in steps:
        print(f"  {command.ljust(width)}  # {comment}" if comment else f"  {command}")


__all__ = [
    "FILES",
    "ProjectExistsError",
    "ProjectNameError",
    "ProjectNames",
    "ScaffoldError",
    "add_parser",
    "check_folder",
    "check_project_name",
    "create_project",
    "graph_name_for",
    "hub_name_for",
    "project_names",
    "render_project",
    "run",
]
