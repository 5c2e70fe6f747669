"""The inspector's routes and assets, without a browser: served from the package, offline,
with the API prefix injected, and every module import and asset reference resolving."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from azure_functions_durable_graph.api.server import build_local_app
from azure_functions_durable_graph.ui import STATIC_DIR, render_index, ui_routes
from graph_helpers import load_example

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "src" / "azure_functions_durable_graph"
ASSETS = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
SCRIPTS = [p for p in ASSETS if p.suffix == ".js"]


@pytest.fixture
def client(tmp_path: Path):
    app = build_local_app([*load_example("support_agent").runtime.registrations()], db=tmp_path / "ui.db")
    with TestClient(app) as test_client:
        yield test_client


def test_index_is_served_at_root_with_the_api_prefix(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<meta name="api-prefix" content="/api">' in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_prefix_is_injected_and_escaped() -> None:
    assert '<meta name="api-prefix" content="/custom/v1">' in render_index("/custom/v1/")
    assert 'content="/a&quot;b"' in render_index('/a"b')
    assert '<meta name="api-prefix" content="">' in render_index("/")


@pytest.mark.parametrize("asset", ASSETS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_every_asset_is_served_with_its_type(client: TestClient, asset: Path) -> None:
    if asset.name == "index.html":
        return
    response = client.get(f"/ui/{asset.relative_to(STATIC_DIR).as_posix()}")
    assert response.status_code == 200
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}[asset.suffix]
    assert response.headers["content-type"].startswith(expected)
    assert response.content == asset.read_bytes()


def test_unknown_asset_and_escape_attempts_are_404(client: TestClient) -> None:
    assert client.get("/ui/nope.js").status_code == 404
    assert client.get("/ui/..%2F__init__.py").status_code == 404
    assert client.get("/ui/../__init__.py").status_code == 404


def test_the_api_is_unchanged_and_the_ui_is_optional(tmp_path: Path) -> None:
    from azure_functions_durable_graph.api.app import create_app
    from azure_functions_durable_graph.local.engine import LocalEngine

    engine = LocalEngine(tmp_path / "x.db")
    without = create_app(engine, engine, ui=False)
    assert not any(getattr(route, "path", None) in ("/", "/ui") for route in without.routes)
    with_ui = create_app(engine, engine, prefix="/v2")
    paths = [getattr(route, "path", None) for route in with_ui.routes]
    assert "/" in paths and "/ui" in paths and "/v2/health" in paths
    # the page, the /ui and /ui/ redirects to it, and the assets
    assert len(ui_routes("/api")) == 4


def test_api_key_does_not_guard_the_page(tmp_path: Path) -> None:
    app = build_local_app([*load_example("support_agent").runtime.registrations()], db=tmp_path / "k.db", api_key="k")
    with TestClient(app) as test_client:
        assert test_client.get("/").status_code == 200
        assert test_client.get("/ui/js/app.js").status_code == 200
        assert test_client.get("/api/graphs").status_code == 401


def test_assets_live_inside_the_package() -> None:
    assert STATIC_DIR.resolve().is_relative_to(PACKAGE_DIR.resolve())
    assert (STATIC_DIR / "index.html").is_file()


def test_no_asset_loads_anything_from_another_host() -> None:
    allowed = {"http://www.w3.org/2000/svg"}  # the SVG namespace, not a download
    for asset in ASSETS:
        for url in re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`)]*", asset.read_text("utf-8")):
            assert url in allowed, f"{asset.name} refers to {url}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_module_imports_resolve(script: Path) -> None:
    text = script.read_text("utf-8")
    imports = re.findall(r'^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"', text, flags=re.M | re.S)
    for target in imports:
        assert target.startswith("./") or target.startswith("../"), f"{script.name}: bare import {target}"
        assert (script.parent / target).resolve().is_file(), f"{script.name}: missing {target}"
    # names imported from a sibling module are exported by it
    for names, target in re.findall(r'import\s*\{([^}]*)\}\s*from\s+"([^"]+)"', text):
        exported = (script.parent / target).resolve().read_text("utf-8")
        for name in (n.strip().split(" as ")[0] for n in names.split(",") if n.strip()):
            pattern = rf"export\s+(?:async\s+)?(?:function|const|let|class)\s+{re.escape(name)}\b"
            assert re.search(pattern, exported), f"{script.name} imports {name} that {target} does not export"


def test_index_references_existing_assets() -> None:
    html = (STATIC_DIR / "index.html").read_text("utf-8")
    for reference in re.findall(r'(?:src|href)="(ui/[^"]+)"', html):
        assert (STATIC_DIR / reference.removeprefix("ui/")).is_file(), reference
