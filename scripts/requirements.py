"""Print the dependencies declared in pyproject.toml (plus extras) for `pip install -r`.

The repository root is the import root, not an installed package, so pip installs only what it needs.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(line for line in lines if not line.startswith("torch")))
