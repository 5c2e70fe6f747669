"""Azurite's blob service (the Azure Storage emulator, npm package ``azurite``) for the tests.

``make install`` installs it into ``node_modules/`` from the repository's ``package.json`` and
``package-lock.json``. :func:`running_azurite` starts ``azurite-blob`` on a free loopback port,
in memory, waits until the port answers and yields the connection string of Azurite's
well-known development account; the process is killed when the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BLOB = ROOT / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, the same for every Azurite).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_SECONDS = 30.0


class AzuriteMissing(RuntimeError):
    """``node_modules/.bin/azurite-blob`` is not installed."""


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def connection_string(port: int) -> str:
    """The connection string of the development account on Azurite's blob port ``port``."""
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def running_azurite() -> Iterator[str]:
    """Azurite's blob service, in memory on a free loopback port: yields its connection string."""
    if not AZURITE_BLOB.exists():
        raise AzuriteMissing(f"{AZURITE_BLOB.relative_to(ROOT)} is missing: run `make install` "
                             "(it installs Azurite with npm ci)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="azurite-") as workspace, \
            open(Path(workspace) / "azurite.log", "w+b") as log:
        process = subprocess.Popen(
            [str(AZURITE_BLOB), "--blobHost", "127.0.0.1", "--blobPort", str(port),
             "--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--disableTelemetry"],
            cwd=workspace, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode("utf-8", "replace")
                    raise RuntimeError(f"azurite-blob did not answer on 127.0.0.1:{port} "
                                       f"(exit code {process.poll()}): {output}")
                time.sleep(0.05)
            yield connection_string(port)
        finally:
            process.kill()
            process.wait(timeout=10)
