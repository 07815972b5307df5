"""Start the real server (`python -m server`) for a benchmark and wait until it answers /health."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from settings import ROOT


@contextmanager
def serving(var_dir: Path, **env: str) -> Iterator[int]:
    """The port of a server on `var_dir` (its own SQLite database and index); stopped on exit."""
    port = 8000 + random.Random().randint(100, 899)
    environment = {
        **os.environ, "VAR_DIR": str(var_dir), "DATABASE_URL": "", "INDEX_DIR": "", "GOOGLE_API_KEY": "",
        "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING", "CACHE_BACKEND": "memory", **env,
    }  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "server"], cwd=ROOT, env=environment, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not become healthy in 120 s")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
