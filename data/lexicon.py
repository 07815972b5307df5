"""The shop's vocabulary as data: regional synonyms, everyday words for kinds, purposes, attribute questions, policies.

The shipped files live in `data/lexicon/*.json`; a shop adds or overrides entries with files of the same name in
`$LEXICON_DIR` (default `var/lexicon/`). Keys are folded (lower case, no accents) on load, so the files may be
written naturally. Everything that reads customers' words (router, planner, policies) takes its vocabulary from
here, never from regexes in code.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

from settings import ROOT

SHIPPED = ROOT / "data" / "lexicon"


class LexiconError(ValueError):
    """A vocabulary file cannot be read; the message names the file and the problem."""


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how every vocabulary entry is compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _folded(value: Any) -> Any:
    """Fold every key and string in a loaded structure (the `_doc` notes are dropped)."""
    if isinstance(value, dict):
        return {fold(k): _folded(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_folded(v) for v in value]
    if isinstance(value, str):
        return fold(value)
    return value


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LexiconError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise LexiconError(f"{path}: se esperaba un objeto JSON")
    return data


def _merge(base: Any, extra: Any) -> Any:
    """The shop's entries on top of the shipped ones: dicts merge key by key, lists add new items."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return [*base, *(v for v in extra if v not in base)]
    return extra


def load(name: str, shop_dir: Path | None = None) -> dict[str, Any]:
    """`data/lexicon/<name>.json` with the shop's `<shop_dir>/<name>.json` merged over it, folded."""
    data = _read(SHIPPED / f"{name}.json") if (SHIPPED / f"{name}.json").exists() else {}
    if shop_dir is not None and (shop_dir / f"{name}.json").exists():
        data = _merge(data, _read(shop_dir / f"{name}.json"))
    folded = _folded(data)
    assert isinstance(folded, dict)
    return folded
