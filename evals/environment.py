"""The worlds evals and benchmarks run in: a seeded var dir, the project's Redis Stack, the real server.

Shared by `evals` and `bench` (which builds on it), so neither package has to reach into the other.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from settings import ROOT

REDIS_PORT = int(os.environ.get("EVAL_REDIS_PORT", "6393"))


def fresh_var(tmp: Path) -> Path:
    """A var dir with the sample catalogue seeded and indexed (what `make run` prepares)."""
    var = tmp / "var"
    env = {**os.environ, "VAR_DIR": str(var), "DATABASE_URL": "", "INDEX_DIR": "", "GOOGLE_API_KEY": "",
           "EMBEDDINGS_PROVIDER": "use", "LOG_LEVEL": "WARNING"}  # fmt: skip
    subprocess.run([sys.executable, "-m", "manage", "setup"], cwd=ROOT, env=env, check=True, capture_output=True)
    return var


@contextlib.contextmanager
def redis_stack(port: int = REDIS_PORT) -> Iterator[str | None]:
    """The project's Redis Stack on its own port for this run (None where it cannot run here)."""
    script = ["bash", str(ROOT / "scripts" / "redis-stack.sh")]
    env = {**os.environ, "REDIS_PORT": str(port)}
    started = subprocess.run([*script, "start"], cwd=ROOT, env=env, capture_output=True, text=True)
    if started.returncode != 0:
        print(f"Redis Stack no disponible ({started.returncode}): se mide la caché en memoria.", file=sys.stderr)
        yield None
        return
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        subprocess.run([*script, "stop"], cwd=ROOT, env=env, capture_output=True)


@contextlib.contextmanager
def serving(var_dir: Path, **env: str) -> Iterator[int]:
    """The port of the real server (`python -m server`) on `var_dir` (its own SQLite and index); stopped on exit."""
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
