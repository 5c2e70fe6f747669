"""The same two load phases with ``wrk`` (Debian package ``wrk``), a C load generator.

The Python client of ``bench.http_load`` uses a whole core at 50 clients, so on a 2-core
machine it measures itself as much as the server. ``wrk`` uses little CPU; when it is on PATH,
``python -m bench.http_load`` also runs both phases with it and prints a second table.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

START_SCRIPT = """wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    name: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # socket errors, timeouts and non-2xx answers


def available() -> bool:
    """Whether ``wrk`` is on PATH."""
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(name: str, url: str, *, clients: int, seconds: float, post_json: bool = False) -> WrkResult:
    """Run wrk against ``url`` (a POST of ``{}`` when ``post_json``) and parse its report."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        command = ["wrk", "-t2", f"-c{clients}", f"-d{max(1, int(seconds))}s", "--latency", "--timeout", "30s"]
        if post_json:
            script = Path(tmp) / "post.lua"
            script.write_text(START_SCRIPT, encoding="utf-8")
            command += ["-s", str(script)]
        done = subprocess.run([*command, url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    return parse_report(name, done.stdout)


def parse_report(name: str, report: str) -> WrkResult:
    """The figures of a ``wrk --latency`` report."""
    requests = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", report).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", report).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", report))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return WrkResult(name, requests, per_second, p50, p99, errors)


__all__ = ["WrkResult", "available", "parse_report", "run_wrk"]
