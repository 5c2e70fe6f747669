"""The package's own wheel, bundled into a project made by ``durable-graph new``.

Until azure-functions-durable-graph is on a package index, a scaffolded project installs it
from a wheel kept in the project (``wheels/``) and named in its ``requirements.txt``. The wheel
is the one of the code that is running ``durable-graph new``:

- **installed from a wheel** (pip, uv, pipx, ...): the wheel is put back together from the
  installed files that the distribution's ``RECORD`` lists. Every file is checked against the
  sha256 recorded at install time, so its bytes are exactly those of the wheel that was
  installed; what installers add (``INSTALLER``, ``REQUESTED``, ``direct_url.json``, compiled
  ``.pyc`` files, console scripts) is left out and ``RECORD`` is written anew.
- **installed in editable mode, or imported from a source tree**: there are no installed files
  to re-pack, so the wheel is built from that source tree by its own build backend (hatchling,
  as ``pyproject.toml`` declares) through ``pip wheel --no-deps`` (``uv build --wheel`` when
  pip is missing). pip fetches hatchling from the configured index unless it is installed.

Either way the result is checked (a zip holding this distribution's ``METADATA``) before the
project is written.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import importlib.util
import io
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..graph.errors import DurableGraphError

DIST_NAME = "azure-functions-durable-graph"
PACKAGE = "azure_functions_durable_graph"
WHEEL_FOLDER = "wheels"
BUILD_TIMEOUT_SECONDS = 600.0

# What installers add to a .dist-info folder (PEP 376, 610, 627): not part of the wheel.
_INSTALLER_FILES = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"})
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same files give the same wheel
_PROJECT_NAME_RE = re.compile(r'^name\s*=\s*["\']azure-functions-durable-graph["\']', re.MULTILINE)
_ALTERNATIVES = (
    "Build the wheel yourself (python -m build --wheel, or uv build --wheel) and pass "
    "--wheel FILE, or pass --no-wheel when the package is on your package index"
)


class WheelUnavailableError(DurableGraphError):
    """The package's wheel cannot be obtained for ``durable-graph new``."""

    code = "WHEEL_UNAVAILABLE"


@dataclass(frozen=True)
class BundledWheel:
    """A wheel of this package: its file name, its bytes and where it came from."""

    filename: str
    data: bytes
    origin: str

    @property
    def relative_path(self) -> str:
        """Where the wheel goes in the project (forward slashes)."""
        return f"{WHEEL_FOLDER}/{self.filename}"

    @property
    def requirement(self) -> str:
        """The requirements.txt line naming the wheel (pip resolves it from the current folder)."""
        return f"./{self.relative_path}"


# Wheels built in this process, by source tree and fingerprint of its files.
_built: dict[tuple[Path, str], BundledWheel] = {}


def this_wheel() -> BundledWheel:
    """The wheel of the package that is running (see the module docstring for how)."""
    package_dir = Path(__file__).resolve().parent.parent
    dist = _installed_distribution()
    if dist is not None and _installed_here(dist, package_dir):
        return repack_installed(dist)
    source = source_root(package_dir)
    if source is None:
        raise WheelUnavailableError(
            f"cannot make the {DIST_NAME} wheel: the package in '{package_dir}' is neither an "
            "installed wheel nor part of a source tree with its pyproject.toml. " + _ALTERNATIVES
        )
    return build_from_source(source)


def wheel_from_file(path: Path) -> BundledWheel:
    """A wheel given with ``--wheel FILE``, checked to be this package's."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WheelUnavailableError(f"cannot read the wheel '{path}': {exc.strerror}") from None
    check_wheel(path.name, data)
    return BundledWheel(path.name, data, f"copied from {path}")


def check_wheel(filename: str, data: bytes) -> str:
    """Raise unless ``data`` is a wheel of this package named ``filename``; returns its version."""
    if not filename.startswith(f"{PACKAGE}-") or not filename.endswith(".whl"):
        raise WheelUnavailableError(
            f"'{filename}' is not named like a {DIST_NAME} wheel ({PACKAGE}-VERSION-TAGS.whl)"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            meta_names = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
            if len(meta_names) != 1:
                raise WheelUnavailableError(f"'{filename}' has no single .dist-info/METADATA")
            meta = email.parser.Parser().parsestr(archive.read(meta_names[0]).decode("utf-8"))
    except zipfile.BadZipFile:
        raise WheelUnavailableError(f"'{filename}' is not a wheel (not a zip file)") from None
    name, version = meta.get("Name", ""), meta.get("Version", "")
    if _normalise(name) != _normalise(DIST_NAME):
        raise WheelUnavailableError(f"'{filename}' is a wheel of '{name}', not of {DIST_NAME}")
    if not filename.startswith(f"{PACKAGE}-{version}-"):
        raise WheelUnavailableError(
            f"'{filename}' holds version {version}, not the one its name says"
        )
    return version


def source_root(package_dir: Path) -> Path | None:
    """The source tree (the folder of this project's pyproject.toml) holding ``package_dir``."""
    for folder in list(package_dir.parents)[:3]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _PROJECT_NAME_RE.search(pyproject.read_text(encoding="utf-8")):
            return folder
    return None


def build_from_source(source: Path) -> BundledWheel:
    """Build the wheel from the source tree ``source`` with its build backend (memoised)."""
    key = (source, _fingerprint(source))
    if key not in _built:
        with tempfile.TemporaryDirectory(prefix="durable-graph-wheel-") as out:
            _run_build(source, Path(out))
            wheels = sorted(Path(out).glob(f"{PACKAGE}-*.whl"))
            if len(wheels) != 1:
                raise WheelUnavailableError(
                    f"building the {DIST_NAME} wheel from '{source}' gave "
                    f"{len(wheels)} wheels, not one. " + _ALTERNATIVES
                )
            data = wheels[0].read_bytes()
            check_wheel(wheels[0].name, data)
            _built[key] = BundledWheel(wheels[0].name, data, f"built from the source in {source}")
    return _built[key]


def repack_installed(dist: metadata.Distribution) -> BundledWheel:
    """Put the installed wheel of ``dist`` back together from the files its RECORD lists."""
    members: list[tuple[str, bytes]] = []
    dist_info = ""
    for entry in dist.files or ():
        path = entry.as_posix()
        parts = path.split("/")
        if parts[0] == ".." or "__pycache__" in parts or path.endswith(".pyc"):
            continue  # console scripts and byte code: written by the installer, not the wheel
        if parts[0].endswith(".dist-info"):
            dist_info = parts[0]
            if len(parts) == 2 and parts[1] in _INSTALLER_FILES:
                continue
        if entry.hash is None:
            continue  # listed without a hash: added by the installer
        data = Path(str(dist.locate_file(entry))).read_bytes()
        if _digest(entry.hash.mode, data) != entry.hash.value:
            raise WheelUnavailableError(
                f"the installed file '{path}' of {DIST_NAME} was changed after installation "
                "(it no longer matches the hash recorded in RECORD), so the installed package "
                "is not a wheel any more: reinstall it. " + _ALTERNATIVES
            )
        members.append((path, data))
    if not dist_info or not any(name == f"{dist_info}/WHEEL" for name, _ in members):
        raise WheelUnavailableError(
            f"the installed {DIST_NAME} has no .dist-info/WHEEL in its RECORD. " + _ALTERNATIVES
        )
    wheel_meta = email.parser.Parser().parsestr(dict(members)[f"{dist_info}/WHEEL"].decode("utf-8"))
    filename = f"{PACKAGE}-{dist.version}-{_compressed_tag(wheel_meta.get_all('Tag') or [])}.whl"
    data = _zip_wheel(members, dist_info)
    check_wheel(filename, data)
    return BundledWheel(filename, data, "re-packed from the installed package")


def _zip_wheel(members: list[tuple[str, bytes]], dist_info: str) -> bytes:
    # The package's files first, the .dist-info folder last and RECORD at its very end, as
    # the wheel format recommends.
    ordered = sorted(members, key=lambda member: (member[0].startswith(f"{dist_info}/"), member[0]))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in ordered:
            _write_member(archive, name, data)
            writer.writerow([name, f"sha256={_digest('sha256', data)}", len(data)])
        writer.writerow([f"{dist_info}/RECORD", "", ""])
        _write_member(archive, f"{dist_info}/RECORD", record.getvalue().encode("utf-8"))
    return buffer.getvalue()


def _write_member(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _compressed_tag(tags: list[str]) -> str:
    """``["py3-none-any"]`` -> ``py3-none-any``; several tags -> ``py2.py3-none-any``."""
    if not tags:
        raise WheelUnavailableError(f"the installed {DIST_NAME} WHEEL file lists no Tag")
    split = [tag.split("-") for tag in tags]
    return "-".join(".".join(sorted({parts[i] for parts in split})) for i in range(3))


def _run_build(source: Path, out: Path) -> None:
    if importlib.util.find_spec("pip") is not None:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        if importlib.util.find_spec("hatchling") is not None:
            command.append("--no-build-isolation")  # the backend is here: no index needed
        command += ["--wheel-dir", str(out), str(source)]
    elif (uv := shutil.which("uv")) is not None:
        command = [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(source)]
    else:
        raise WheelUnavailableError(
            f"cannot build the {DIST_NAME} wheel from '{source}': neither pip nor uv is "
            "available. " + _ALTERNATIVES
        )
    try:
        done = subprocess.run(
            command,
            cwd=out,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise WheelUnavailableError(
            f"building the {DIST_NAME} wheel from '{source}' took more than "
            f"{BUILD_TIMEOUT_SECONDS:.0f} s. " + _ALTERNATIVES
        ) from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise WheelUnavailableError(
            f"building the {DIST_NAME} wheel from '{source}' failed ({last}). " + _ALTERNATIVES
        )


def _fingerprint(source: Path) -> str:
    """A digest of what goes into the wheel, so that a changed source is built again."""
    digest = hashlib.sha256()
    files = [source / "pyproject.toml", source / "README.md"]
    files += sorted(
        path
        for path in (source / "src" / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(source)).encode("utf-8") + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _installed_distribution() -> metadata.Distribution | None:
    try:
        return metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        return None


def _installed_here(dist: metadata.Distribution, package_dir: Path) -> bool:
    """Whether ``dist`` installed the files of ``package_dir`` (not an editable link to them)."""
    init = f"{PACKAGE}/__init__.py"
    for entry in dist.files or ():
        if entry.as_posix() == init:
            return Path(str(dist.locate_file(entry))).resolve() == package_dir / "__init__.py"
    return False


def _digest(algorithm: str, data: bytes) -> str:
    raw = hashlib.new(algorithm, data).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


__all__ = [
    "BundledWheel",
    "DIST_NAME",
    "WHEEL_FOLDER",
    "WheelUnavailableError",
    "build_from_source",
    "check_wheel",
    "repack_installed",
    "source_root",
    "this_wheel",
    "wheel_from_file",
]
