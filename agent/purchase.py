"""Which products, and how many, a purchase message means: "ponme dos de la negra", "la de 8", "todas las de 1 L".

Each thing bought is looked for among the products on the table first, then among those seen earlier, then in
the catalogue. A version said by a bare number that several shown carry ("la de 8") is asked about, never
searched. Used by the orders subgraph's `act`.
"""

from __future__ import annotations

import re
from typing import Any

from agent import buying, composer, references
from agent.context import AgentContext
from agent.lexicon import is_container, loose_said, purpose_of, sold_loose, variant_words
from agent.planner import Plan, clean_query, colour_of, named_in_play, ordinal_refs
from agent.turn import in_catalogue_words, search_query
from state import CatalogueItem, ProductFact
from tools.facts import fact
from vectorstore.text import fold, normalise_units

_PRONOUN_ONLY = re.compile(
    r"^(?:(?:el|la|los|las|lo|le|les|eso|esa|ese|este|esta|esto|estos|estas|esos|esas|mismo|misma)\s*)*$"
)
_ALL_OF = re.compile(
    r"^(?:los|las|ambos|ambas)(?: (dos|tres|cuatro|cinco|\d))?(?: cosas| productos| articulos)?$|"
    r"^(?:de )?cada(?: uno| una)?$|^todos$|^todas$"
)


async def to_add(
    state: Any, context: AgentContext, p: Plan, instead_of: Any = None
) -> tuple[list[tuple[int, int]], list[str]]:
    """(product id, units) for each thing the message buys, and what could not be found.

    Each thing is looked for among the products on the table first ("la negra", "el de medio litro", "los
    dos"), then among those seen earlier ("la Spigen"), then in the catalogue ("un paquete de café molido").
    """
    in_play = list(state.get("products") or [])
    seen = list(state.get("seen") or [])
    focus = state.get("focus")
    asked = buying.wanted(p.folded) or [buying.Wanted("", None)]
    found: list[tuple[int, int]] = []
    problems: list[str] = []
    for thing in asked:
        count = thing.count or (p.quantity if len(asked) == 1 else 1)
        words = thing.words.strip()
        every = _ALL_OF.match(words)
        if every:
            found += _all_of(every, thing, asked, p, in_play, seen, focus)
            continue
        # "2 frascos grandes de durazno" among the peaches shown: the customer's words in the catalogue's
        as_named = in_catalogue_words(words, context.shop.catalog.index.snapshot()) if words else words
        packed = f"{_singular(thing.container)} {as_named}".strip() if thing.container else ""
        refs = (packed and named_in_play(packed, in_play)) or _refer(
            as_named, p, in_play, seen, focus, several=len(asked) > 1
        )
        if refs:
            found += [(int(f["id"]), count) for f in refs]
            continue
        numbered = references.number_reference(words)
        if numbered:  # "la de 8": a version of those shown, never a search for "8"
            several = references.with_number(numbered.split()[-1], in_play)
            problems.append(composer.which_one(several) if len(several) > 1 else composer.which_unclear(words))
            continue
        if focus is not None and is_container(words):  # "ponme dos paquetes": of the product talked about
            found.append((int(focus["id"]), count))
            continue
        loose = _loose_in_play(context, words, in_play)
        if loose is not None:  # "dame 4 sueltas" after the avocados: the one sold by the piece
            found.append((int(loose["id"]), count))
            continue
        versioned = f"{_singular(thing.container)} {words}".strip() if thing.container else words
        other = await _other_version(context, versioned, found, focus)
        if other is not None:  # "pásame las 2 de L y una M": the same shirt in M
            found.append((other.id, count))
            continue
        match = await _catalogue_match(context, thing, p, instead_of)
        if match is None:
            problems.append(
                f"No encuentro «{words}» en el catálogo." if words else "¿Qué producto quieres añadir? Dime cuál."
            )
        else:
            found.append((match.id, count))
    merged: list[tuple[int, int]] = []
    for pid, count in found:  # "una de la fresca, la tarrina de 200 ml": one thing, said twice
        if merged and merged[-1][0] == pid:
            continue
        merged.append((pid, count))
    return merged, problems


def _loose_in_play(context: AgentContext, words: str, in_play: list[ProductFact]) -> ProductFact | None:
    """The one product on the table sold by the piece, when the words say only that ("4 sueltas")."""
    said = loose_said(words)
    if said is None or clean_query(words[: said.start()] + " " + words[said.end() :]).strip():
        return None
    items = context.shop.catalog.index.items
    loose = [f for f in in_play if int(f["id"]) in items and sold_loose(items[int(f["id"])].attributes)]
    return loose[0] if len(loose) == 1 else None


def _all_of(
    every: re.Match[str], thing: buying.Wanted, asked: list[buying.Wanted], p: Plan,
    in_play: list[ProductFact], seen: list[ProductFact], focus: ProductFact | None,
) -> list[tuple[int, int]]:  # fmt: skip
    """The products in play, or units of the focus: "los dos", "las tres", "todos", "dame los 3 (que quedan)"."""
    words = thing.words.strip()
    n_said = buying.count_of(every.group(1)) if every.group(1) else 0
    group = p.references if len(p.references) >= 2 else in_play
    if n_said == 2 and len(group) < 2 and len(seen) >= 2:
        group = seen[:2]  # "las dos": the last two products talked about
    elif n_said == 2 and re.search(r"\b(?:cosas|productos|articulos)\b", words) and in_play:
        # "agrega las dos cosas": what the last request found and the thing talked about before it
        before = next((f for f in seen if all(f.get("id") != i.get("id") for i in in_play)), None)
        group = [in_play[0], before] if before else group
    n = buying.count_of(every.group(1)) if every.group(1) else len(group)
    if focus and n and (len(group) < n or int(focus.get("stock", 0)) == n or (len(asked) == 1 and n > 3)):
        return [(int(focus["id"]), n)]  # "dame los 3" (that are left): units, not products
    return [(int(f["id"]), thing.count or 1) for f in group[: n or len(group)]]


async def _catalogue_match(
    context: AgentContext, thing: buying.Wanted, p: Plan, instead_of: Any
) -> CatalogueItem | None:
    """The product a thing wanted names in the catalogue, in the version, package or loose form said (or None)."""
    words = thing.words.strip()
    # "pilas para el mouse": pilas (what it is), not the mouse it is for
    head = re.sub(r"\s+para (?:el|la|los|las|mi|tu|su|un|una)\b.*$", "", words)
    plain = clean_query(head) or re.sub(r"^(?:el|la|los|las|un|una|unos|unas)\s+", "", head)
    query = in_catalogue_words(plain, context.shop.catalog.index.snapshot()) if words else ""
    said_for = re.search(re.escape(words) + r"\s+(pa(?:ra)? [^,.?]*)", p.folded) if words else None
    purpose = purpose_of(words) or (purpose_of(said_for.group(1)) if said_for else None)
    if query and purpose and purpose[2]:  # "unas calcetas para correr": running socks
        query = " ".join(dict.fromkeys([*(w for w in query.split() if w != purpose[0]), *purpose[2].split()]))
    match = await context.shop.best_match(search_query(context, query, query)) if query else None
    if match is not None and instead_of is not None and match.subcategory != instead_of.subcategory:
        # "quita la Hellmann's y pon una Hacendado de bote": a Hacendado mayonnaise, what it replaces
        head = f"{fold(instead_of.name).split()[0]} {query}"
        other = await context.shop.best_match(search_query(context, head, head))
        match = other if other is not None and other.subcategory == instead_of.subcategory else match
    if match is not None and thing.container:  # "6 botellas de Iso drink": the bottle, not the can
        packed_query = f"{query} {_singular(thing.container)}"
        packed_match = await context.shop.best_match(search_query(context, packed_query, packed_query))
        if packed_match is not None and context.shop.is_namesake(packed_match, match):
            match = packed_match
    loose = loose_said(query) if match is not None else None
    if (
        loose is not None and match is not None and not sold_loose(match.attributes)
    ):  # "3 aguacates sueltos": by the piece
        plain_query = " ".join((query[: loose.start()] + query[loose.end() :]).split())
        hits = await context.shop.search(search_query(context, plain_query, plain_query), limit=8)
        match = next((h.item for h in hits if h.name_match >= 0.999 and sold_loose(h.item.attributes)), match)
    if match is not None:  # "una mayonesa Hellmann's de 475 ml", "una Hacendado de bote": that version
        said = references.read(normalise_units(words))
        version = references.Phrase(words=[w for w in said.words if w in variant_words()], measures=said.measures)
        sized = references.narrow(version, [fact(n) for n in context.shop.namesakes(match)])
        match = context.shop.catalog.index.items.get(int(sized[0]["id"]), match) if len(sized) == 1 else match
    return match


_VERSION_TOKEN = re.compile(
    r"^(?:xxs|xs|s|m|l|xl|xxl|\d+(?:[.,]\d+)?|gb|tb|kg|g|l|ml|cl|talla|en|de|la|el|los|las|una|un)$"
)


async def _other_version(
    context: AgentContext, words: str, found: list[tuple[int, int]], focus: ProductFact | None
) -> Any:
    """The product just named (or in focus) in the version these words say, when they only say a version."""
    tokens = words.split()
    if not tokens or not all(_VERSION_TOKEN.match(t) or colour_of(t) or t in variant_words() for t in tokens):
        return None
    items = context.shop.catalog.index.items
    anchor = items.get(found[-1][0]) if found else items.get(int(focus["id"])) if focus else None
    wanted = [t for t in tokens if t not in ("en", "de", "la", "el", "los", "las", "una", "un", "talla")]
    return await context.shop.variant(anchor, wanted) if anchor is not None and wanted else None


def _singular(container: str) -> str:
    """The package in the singular, as names say it: "botellas grandes" -> "botella grande"."""

    def one(w: str) -> str:  # "grandes" -> "grande", "individuales" -> "individual"
        if len(w) <= 4 or not w.endswith("s"):
            return w
        return w[:-2] if w.endswith("es") and w[:-2] in variant_words() else w[:-1]

    return " ".join(one(w) for w in container.split())


def _refer(
    words: str, p: Plan, in_play: list[ProductFact], seen: list[ProductFact], focus: ProductFact | None,
    *, several: bool,
) -> list[ProductFact]:  # fmt: skip
    """The products on the table (or seen) the words describe; the one in focus for "lo", "esa", "me lo llevo"."""
    if _PRONOUN_ONLY.match(words):
        if p.references and not several:
            return p.references[:1]
        if focus:
            return [focus]
        return in_play[:1]  # "añádelo" right after a list: the one it leads with
    ordinal = ordinal_refs(words, in_play)
    if ordinal:
        return ordinal
    numbered = references.number_reference(words)
    if numbered:
        return _by_number(numbered.split()[-1], in_play, seen, focus)
    return named_in_play(words, in_play) or named_in_play(words, seen, latest=True)


def _by_number(
    number: str, in_play: list[ProductFact], seen: list[ProductFact], focus: ProductFact | None
) -> list[ProductFact]:
    """The product meant by "la de 8": shown with that number, talked about and with it, or the latest seen with it.

    Several shown with it and none talked about: [] (the customer is asked which).
    """
    fitting = references.with_number(number, in_play)
    if len(fitting) != 1 and focus is not None and references.with_number(number, [focus]):
        return [focus]
    if fitting:
        return fitting if len(fitting) == 1 else []
    return references.with_number(number, seen)[:1]
