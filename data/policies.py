"""The shop's policies document: Markdown the owner edits, one `##` section per topic (shipping, returns...).

Parsing splits each section into passages (a paragraph or a list item) so an answer can quote the part that
answers the question, with the section it comes from. `install` validates a new version and puts it where the
server reads it; the server notices the change by itself (see `tools.policies`).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from settings import ROOT

SAMPLE_POLICIES = ROOT / "data" / "policies" / "policies.md"
MAX_BYTES = 200_000
_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


class PoliciesError(ValueError):
    """The document cannot be used; the message says why, in Spanish, for the shop owner."""


@dataclass(frozen=True)
class Section:
    """One topic of the document: its title and its passages (paragraphs and list items), in order."""

    title: str
    passages: tuple[str, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return "\n".join(self.passages)


def _plain(markdown: str) -> str:
    """Inline Markdown to plain text: **bold**, _emphasis_, `code`, [links](url)."""
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", markdown)
    text = re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", text)
    return " ".join(text.split())


def _passages(lines: list[str]) -> list[str]:
    """Paragraphs and list items; a list item's wrapped lines belong to it.

    A list introduced by a line ending in ":" ("Aceptamos:") stays with its introduction: together they say one
    thing.
    """
    blocks: list[tuple[bool, list[str]]] = []  # (is a list item, lines)
    for line in lines:
        if not line.strip():
            blocks.append((False, []))
        elif _ITEM.match(line):
            blocks.append((True, [_ITEM.sub("", line)]))
        elif blocks and blocks[-1][1]:
            blocks[-1][1].append(line.strip())
        else:
            blocks.append((False, [line.strip()]))
    out: list[str] = []
    intro = False
    for is_item, block in blocks:
        if not block:
            continue
        text = _plain(" ".join(block))
        if is_item and intro:
            out[-1] = f"{out[-1]} {text}"
        else:
            out.append(text)
            intro = text.endswith(":")
    return out


def parse(text: str) -> list[Section]:
    """Sections of a policies document; text before the first `##` (title, notes for the owner) is ignored."""
    sections: list[Section] = []
    title: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            if title is not None:
                sections.append(Section(title, tuple(_passages(body))))
            title, body = _plain(heading.group(1)), []
        elif title is not None:
            body.append(line)
    if title is not None:
        sections.append(Section(title, tuple(_passages(body))))
    return sections


def read(path: Path) -> list[Section]:
    """Parse and validate a document; PoliciesError (Spanish) when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PoliciesError(f"No puedo leer {path}: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_BYTES:
        raise PoliciesError(f"{path.name} ocupa {len(raw)} bytes; el máximo es {MAX_BYTES}.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PoliciesError(f"{path.name} no está en UTF-8 (byte {exc.start}).") from exc
    sections = parse(text)
    if not sections:
        raise PoliciesError(f"{path.name} no tiene secciones: cada tema empieza con una línea «## Título».")
    empty = [s.title for s in sections if not s.passages]
    if empty:
        raise PoliciesError(f"Secciones sin texto en {path.name}: {', '.join(empty)}.")
    titles = [s.title.casefold() for s in sections]
    repeated = sorted({s.title for s in sections if titles.count(s.title.casefold()) > 1})
    if repeated:
        raise PoliciesError(f"Secciones repetidas en {path.name}: {', '.join(repeated)}.")
    return sections


def install(source: Path, destination: Path) -> list[Section]:
    """Validate `source` and replace `destination` with it atomically (readers see the old or the new file)."""
    sections = read(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".policies-", suffix=".md")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sections
