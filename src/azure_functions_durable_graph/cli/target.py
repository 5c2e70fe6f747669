"""Turn a TARGET string into an imported module (and optional attribute) for discovery.

Accepted forms:

- ``path/to/file.py`` (optionally ``path/to/file.py:attribute``): loaded by path;
- a folder that contains ``function_app.py``: that file;
- ``package.module`` or ``package.module:attribute``: imported by name, with the current
  folder on ``sys.path`` so local packages resolve.

Every failure is a :class:`TargetLoadError` with one readable line, except a
:class:`GraphValidationError` raised by the user's module itself, which is passed through so the
CLI can report the graph's problems.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from ..graph.errors import DurableGraphError, GraphValidationError, TargetLoadError

DEFAULT_TARGET = "function_app.py"
"""What the CLI loads when no TARGET is given (the Azure Functions entry file)."""

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NO_ATTRIBUTE = object()


@dataclass(frozen=True)
class TargetSpec:
    """A parsed TARGET: either a file path or a module name, plus an optional attribute."""

    text: str
    path: Path | None = None
    module: str | None = None
    attribute: str | None = None


@dataclass(frozen=True)
class LoadedTarget:
    """The imported module and, when the TARGET named one, the attribute's value."""

    spec: TargetSpec
    module: ModuleType
    value: object = _NO_ATTRIBUTE

    @property
    def has_attribute(self) -> bool:
        """Whether the TARGET named an attribute (so only that object is searched)."""
        return self.value is not _NO_ATTRIBUTE


def parse_target(text: str | None) -> TargetSpec:
    """Classify ``text`` as a file path or a module name; None means ``function_app.py``."""
    if text is None or not text.strip():
        return TargetSpec(text=DEFAULT_TARGET, path=Path(DEFAULT_TARGET))
    text = text.strip()
    base, attribute = _split_attribute(text)
    looks_like_path = base.endswith(".py") or "/" in base or os.sep in base
    folder = Path(base)
    if folder.is_dir() and not base.endswith(".py"):
        if (folder / DEFAULT_TARGET).is_file():
            return TargetSpec(text=text, path=folder / DEFAULT_TARGET, attribute=attribute)
        if looks_like_path or not _MODULE_NAME.match(base):
            raise TargetLoadError(
                f"folder '{base}' has no {DEFAULT_TARGET}", details={"target": text}
            )
        # A bare folder name without function_app.py may still be an importable package.
    if looks_like_path:
        return TargetSpec(text=text, path=Path(base), attribute=attribute)
    if not _MODULE_NAME.match(base):
        raise TargetLoadError(
            f"'{text}' is neither a .py file nor a module name "
            "(expected path/to/file.py or package.module[:attribute])",
            details={"target": text},
        )
    return TargetSpec(text=text, module=base, attribute=attribute)


def load_target(text: str | None) -> LoadedTarget:
    """Import the module TARGET names and resolve its attribute, if any."""
    spec = parse_target(text)
    if spec.path is not None:
        module = _load_file(spec)
    else:
        module = _import_module(spec)
    if spec.attribute is None:
        return LoadedTarget(spec=spec, module=module)
    try:
        # Plain getattr on a module is safe: only the module's own __getattr__ can run.
        value = getattr(module, spec.attribute)
    except AttributeError:
        raise TargetLoadError(
            f"'{spec.text}': module has no attribute '{spec.attribute}'",
            details={"target": spec.text, "attribute": spec.attribute},
        ) from None
    return LoadedTarget(spec=spec, module=module, value=value)


def _split_attribute(text: str) -> tuple[str, str | None]:
    """Split ``base:attribute``; a Windows drive colon is not an attribute separator."""
    base, sep, attribute = text.rpartition(":")
    if sep and base and _ATTRIBUTE.match(attribute):
        return base, attribute
    return text, None


def _load_file(spec: TargetSpec) -> ModuleType:
    assert spec.path is not None
    path = spec.path.expanduser()
    if not path.is_file():
        hint = ""
        if spec.text == DEFAULT_TARGET:
            hint = (" (run in your app's folder or pass TARGET, as the last argument or as "
                    "--target: path/to/file.py or package.module)")
        raise TargetLoadError(f"file not found: '{spec.path}'{hint}", details={"target": spec.text})
    if path.suffix != ".py":
        raise TargetLoadError(f"'{spec.path}' is not a .py file", details={"target": spec.text})
    path = path.resolve()
    # Sibling imports (``from helpers import x``) must resolve the way the Functions host does.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    # A unique name keeps two loaded files with the same stem from replacing each other.
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:10]
    name = f"_durable_graph_target_{_safe(path.stem)}_{digest}"
    import_spec = importlib.util.spec_from_file_location(name, path)
    if import_spec is None or import_spec.loader is None:
        raise TargetLoadError(f"cannot load '{spec.path}'", details={"target": spec.text})
    module = importlib.util.module_from_spec(import_spec)
    # Registered before running it: Pydantic and dataclasses look their module up there.
    sys.modules[name] = module
    try:
        import_spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        _reraise_import_failure(exc, spec)
    return module


def _import_module(spec: TargetSpec) -> ModuleType:
    assert spec.module is not None
    # ``durable-graph validate mypkg.graphs`` should find packages in the current folder.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(spec.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and _is_prefix(exc.name, spec.module):
            raise TargetLoadError(
                f"module not found: '{spec.module}' (no '{exc.name}' in the current folder "
                "or on sys.path)",
                details={"target": spec.text, "module": spec.module},
            ) from exc
        _reraise_import_failure(exc, spec)
    except BaseException as exc:
        _reraise_import_failure(exc, spec)


def _reraise_import_failure(exc: BaseException, spec: TargetSpec) -> NoReturn:
    """Re-raise ``exc`` as the error the CLI reports; always raises."""
    if isinstance(exc, GraphValidationError):
        # The module built an invalid graph at import time: report its problems, not a crash.
        raise exc
    if not isinstance(exc, (Exception, SystemExit)):
        # Ctrl-C keeps its meaning; a module calling sys.exit() is a load failure like any other.
        raise exc
    if isinstance(exc, DurableGraphError):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    raise TargetLoadError(
        f"importing '{spec.text}' failed: {reason}",
        details={"target": spec.text, "exception": type(exc).__name__},
    ) from exc


def _is_prefix(missing: str, module: str) -> bool:
    return module == missing or module.startswith(missing + ".")


def _safe(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", stem)


__all__ = ["DEFAULT_TARGET", "LoadedTarget", "TargetSpec", "load_target", "parse_target"]
