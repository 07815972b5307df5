"""Orders subgraph: the cart of this conversation, and checkout with an explicit confirmation.

Checkout shows the cart and its total and stops the graph with a LangGraph `interrupt`; it resumes only with the
customer's answer, and places the order only on a clear yes. The order is written, and stock decremented, in one
transaction (data.orders.place_order), at the total the customer saw.
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import buying, composer, references
from agent.context import AgentContext, turn_seed
from agent.language import folded_words, number_from_words
from agent.lexicon import is_container, loose_said, purpose_of, sold_loose, variant_words
from agent.planner import Plan, clean_query, colour_of, named_in_play, ordinal_refs
from agent.respond import respond
from agent.turn import TurnOutput, TurnState, answer, context_of, in_catalogue_words, read_turn, search_query
from data.orders import OutOfStockError
from state import CartFact, CatalogueItem, ProductFact
from tools.facts import cart_facts, fact
from tools.shop import ToolError, thread_id_of
from vectorstore.text import fold, normalise_units, stem

Action = Literal["add", "accept", "set", "remove", "show", "checkout", "clear"]

REMOVE = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w*\b")
REMOVE_COUNT = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w* (\d{1,2}|un|una|uno|dos|tres|cuatro|cinco)\b")
ADD = re.compile(r"\b(?:anad|agreg|met|pon|ech|inclu)\w*\b")
CLEAR = re.compile(r"\bvacia(?:r)? (?:el |mi )?carrito\b|\bborra(?:r)? (?:todo|el carrito)\b")
SHOW = re.compile(r"\b(?:que (?:tengo|hay|llevo) en|ver|ensename|muestrame|mi|el) (?:el |la |mi )?(?:carrito|cesta|carro)\b|"
                  r"(?<!\w)/carrito\b|^carrito$|\bcuanto (?:llevo|suma)\b|" + buying.CART_TOTAL)  # fmt: skip
YES = re.compile(r"^(?:(?:orale|andale|bueno|pues),? )?(?:si|sip|vale|ok|okay|okey|confirmo|confirmado|de acuerdo|adelante|claro|venga|dale|perfecto|listo|"
                 r"correcto|hazlo|si,? (?:confirmo|por favor|adelante|claro|hazlo)|por supuesto|afirmativo)\b")  # fmt: skip
NO = re.compile(
    r"^(?:no|nop|cancela(?:lo|la)?|cancelar|espera|todavia no|aun no|mejor no|dejalo|ahora no|para|claro que no)\b"
)


def answer_kind(text: str) -> Literal["yes", "no", "other"]:
    """Whether the answer is a clear yes, a no, or something else (a new question)."""
    folded = folded_words(text)
    if YES.search(folded) and not re.search(r"\bno\b(?! (?:hay|habra) problema)", folded) and not NO.search(folded):
        # "sí, pero quita la funda", "vale, pero antes dime...": a yes with a change or a question is not a go-ahead
        return "other" if re.search(r"\b(?:pero|antes|espera|aunque|primero)\b", folded) else "yes"
    if NO.search(folded):
        return "no"
    return "other"


class OrdersState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    action: Action
    item: ProductFact | None
    error: str
    lines: list[CartFact]
    total: str
    order_id: int
    placed_units: int
    cancelled: bool
    added: list[dict[str, Any]]  # several products added in one turn: {"item": ProductFact, "quantity": int}
    problems: list[str]  # why some of them could not be added
    checkout_after: bool  # "añade eso y tramita el pedido"
    new_offer: dict[str, Any] | None  # made this turn: "¿te pongo las 3 que quedan?" {"id", "quantity"}
    removed: ProductFact | None  # taken out of the cart in a turn that also buys


def open_offer(state: Any) -> dict[str, Any] | None:
    """The units offered in the assistant's last message ("¿te pongo las 3 que quedan?"), if that is where we are."""
    offer = state.get("offer")
    if offer and len(state.get("messages") or []) == int(offer.get("at", -9)) + 1:
        return dict(offer)
    return None


_ACCEPT = re.compile(
    r"(?:(?:si|sip|vale|ok|okay|okey|dale|venga|bueno|pues|claro|perfecto|genial|listo|de acuerdo|por supuesto|"
    r"adelante|porfa|por favor|hazlo|tramitalo|confirmo|confirmado|eso|esas|esos|todas|todos|"
    r"(?:ponme|dame|pon|pasame|mandame|anade|agrega)(?:las|los)?(?: esas| esos| las| los| todas| todos)?"
    r"(?: que quedan| que haya| que hay)?)\s*)+"
)


def accepts(text: str, offer: dict[str, Any] | None = None) -> bool:
    """The whole message says yes to the last reply's offer: "sí", "vale, adelante", "ponme esas", "dale".

    An offer of units is also taken by saying how many: "pues las 3" after "¿te pongo las 3 que quedan?".
    """
    folded = " ".join(re.sub(r"[¡!.,]", " ", fold(text)).split())
    if "?" in folded or "no" in folded.split():
        return False
    if offer and offer.get("kind") == "units":
        said = re.fullmatch(
            r"(?:\w+ ){0,3}?(?:las|los|esas|esos)? ?(\d+|dos|tres|cuatro|cinco|seis)(?: que quedan)?", folded
        )
        if said and number_from_words(said.group(1)) == int(offer.get("quantity", 0)):
            return True
    return bool(_ACCEPT.fullmatch(folded))


def buys_something(p: Plan) -> bool:
    """A purchase that names what it buys, beyond "el pedido" ("añade la funda y tramita el pedido", "añádelo")."""
    folded = p.folded
    if buying.implicit_purchase(folded):
        return True
    bought = buying.HAS_BUY.search(folded) or buying.ENCLITIC.search(folded) or re.match(r"^(?:los|las) \w+$", folded)
    return bool(bought) and any(w.words or w.count for w in buying.wanted(folded))


def action_of(p: Plan, in_cart: bool = False) -> Action:
    """What an orders turn wants done: add, remove, set, show, clear or checkout."""
    if CLEAR.search(p.folded):
        return "clear"
    if SHOW.search(p.folded) and not clean_query(SHOW.sub(" ", p.folded)):
        return "show"  # "¿qué llevo en el carrito?": nothing but the cart, though "llevo" can buy
    if (
        in_cart
        and _SET_UNITS.search(p.folded)
        and re.search(r"\b(?:mejor|solo|solamente|nada mas|que sean?)\b", p.folded)
    ):
        return "set"
    if buys_something(p) and not REMOVE.search(p.folded):
        return "add"  # "me llevo la Switch y dos mandos, ¿cuánto sale todo?"
    if (buying.CHECKOUT_IN_CART.search(p.folded) or buying.then_checkout(p.folded)) and not buys_something(p):
        return "checkout"
    if REMOVE.search(p.folded):
        return "remove"
    if SHOW.search(p.folded) and not ADD.search(p.folded):
        return "show"  # "¿cuánto es en total?" (not a product called "total")
    if (p.query or p.references) and (ADD.search(p.folded) or buying.HAS_BUY.search(p.folded)):
        return "add"  # "méteme 5 ... en el carrito" adds, though it names the cart
    if SHOW.search(p.folded) or not (p.query or p.references):
        return "show"
    return "add"


async def understand(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Read the orders turn: an accepted offer, or the action it asks for."""
    p = await read_turn(state, context_of(runtime))
    if state.get("checkout"):  # the LLM read the turn as "place the order": the customer still confirms it
        return {"plan": p.dump(), "action": "checkout", "checkout_after": False}
    offer = open_offer(state)
    if offer and accepts(p.text, offer):
        return {"plan": p.dump(), "action": "accept" if offer.get("kind") == "units" else "checkout", "offer": offer}
    action = action_of(p, in_cart=bool(state.get("cart")))
    return {"plan": p.dump(), "action": action, "checkout_after": action == "add" and buying.then_checkout(p.folded)}


async def act(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Do the cart action against the database (transactional; stock is checked at checkout)."""
    config = get_config()
    context = context_of(runtime)
    shop = context.shop
    p = Plan.load(state["plan"])
    thread_id = thread_id_of(config)
    action = state["action"]
    try:
        if action == "accept":  # "sí" to "¿te pongo las 3 que quedan?"
            offer = state.get("offer") or {}
            return await _add_all(shop, thread_id, [(offer["id"], int(offer["quantity"]))], [])
        if action == "add":
            found, problems = await _to_add(state, context, p)
            return await _add_all(shop, thread_id, found, problems)
        if action == "set":  # "mejor solo una botella": that line, with that many units
            return await _set_units(shop, thread_id, p)
        if action == "remove" and buying.HAS_BUY.search(_after_removal(p.folded)):
            # "quita la Hellmann's y pon dos de la Hacendado": take one out, then buy the rest
            removal, purchase = _split_removal(p.folded)
            gone = clean_query(removal) or (p.references[0]["id"] if p.references else "")
            removed = None
            with contextlib.suppress(ToolError):
                removed, _ = await shop.remove_from_cart(thread_id, gone, None)
            found, problems = await _to_add(
                state, context, Plan.load({**p.dump(), "folded": purchase, "text": purchase}), instead_of=removed
            )
            out = await _add_all(shop, thread_id, found, problems)
            return {**out, "action": "add", "removed": fact(removed) if removed else None}
        if action == "remove":
            target: Any = p.references[0]["id"] if p.references else (p.query or "")
            # "quita una bolsa de briquetas" takes one off; "quita las briquetas" takes the line away
            said = REMOVE_COUNT.search(p.folded)
            count = (number_from_words(said.group(1)) or 1) if said else 0
            units = count or (None if p.quantity == 1 else p.quantity)
            item, cart = await shop.remove_from_cart(thread_id, target, units)
            return {"item": fact(item), "lines": cart_facts(cart), "total": str(cart.total)}
        if action == "clear":
            cart = await shop.cart(thread_id)
            for line in cart.items:
                _, cart = await shop.remove_from_cart(thread_id, line.product_id)
            return {"lines": [], "total": "0.00"}
        cart = await shop.cart(thread_id)
        return {"lines": cart_facts(cart), "total": str(cart.total)}
    except ToolError as exc:
        return {"error": str(exc)}


_SET_UNITS = re.compile(
    r"\b(?:mejor|solo|solamente|nada mas|deja(?:me)?|pon(?:me)?|cambia(?:lo|la)? a|que sean?)\s+(?:solo\s+)?"
    r"(una|un|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|\d{1,2})\b(?:\s+(?:de\s+)?(.+))?$"
)


def _after_removal(folded: str) -> str:
    return _split_removal(folded)[1]


def _split_removal(folded: str) -> tuple[str, str]:
    """("quita la hellmann's", "pon dos de la hacendado en bote") from one message that does both."""
    parts = re.split(r"\s*(?:,|\by\b)\s*(?=(?:\w+ )?(?:" + "|".join(buying.BUY_VERBS) + r")\b)", folded, maxsplit=1)
    removal = re.sub(r"^.*?\b(?:quit|elimin|sac|borr|retir)\w*\s*", "", parts[0])
    return removal, parts[1] if len(parts) > 1 else ""


async def _set_units(shop: Any, thread_id: str, p: Plan) -> dict[str, Any]:
    """Leave a cart line with the units said ("mejor solo una botella", "que sean dos")."""
    cart = await shop.cart(thread_id)
    said = _SET_UNITS.search(p.folded)
    if said is None or not cart.items:
        raise ToolError("¿Cuántas unidades quieres dejar y de qué producto?")
    units = number_from_words(said.group(1)) or 1
    words = {stem(w) for w in clean_query(said.group(2) or "").split()}
    lines = [i for i in cart.items if words and words & {stem(w) for w in fold(i.name).split()}] or (
        list(cart.items) if len(cart.items) == 1 else []
    )
    if len(lines) != 1:
        raise ToolError("¿De qué producto del carrito quieres cambiar las unidades?")
    line = lines[0]
    if units < line.quantity:
        item, cart = await shop.remove_from_cart(thread_id, line.product_id, line.quantity - units)
    elif units > line.quantity:
        item, cart = await shop.add_to_cart(thread_id, line.product_id, units - line.quantity)
    else:
        item = await shop.resolve(line.product_id)
    return {"item": fact(item), "lines": cart_facts(cart), "total": str(cart.total), "set_units": units}


_PRONOUN_ONLY = re.compile(
    r"^(?:(?:el|la|los|las|lo|le|les|eso|esa|ese|este|esta|esto|estos|estas|esos|esas|mismo|misma)\s*)*$"
)
_ALL_OF = re.compile(
    r"^(?:los|las|ambos|ambas)(?: (dos|tres|cuatro|cinco|\d))?(?: cosas| productos| articulos)?$|"
    r"^(?:de )?cada(?: uno| una)?$|^todos$|^todas$"
)


async def _to_add(
    state: OrdersState, context: AgentContext, p: Plan, instead_of: Any = None
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
        if numbered := references.number_reference(words):  # "la de 8": a version of those shown, never a search
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
    fitting = named_in_play(words, in_play)
    numbered = references.number_reference(words)
    several = bool(numbered) and len(references.with_number(str(numbered).split()[-1], in_play)) > 1
    if fitting or several:
        return fitting  # several shown fit "la de 8": the customer is asked, not given one seen earlier
    return named_in_play(words, seen, latest=True)


async def _add_all(shop: Any, thread_id: str, items: list[tuple[int, int]], problems: list[str]) -> dict[str, Any]:
    """Add every (product, units); what cannot be added is said, and a shortage becomes an offer of what is left."""
    added: list[tuple[ProductFact, int]] = []
    offer: dict[str, Any] | None = None
    focus: ProductFact | None = None
    cart = None
    for ref, count in items:
        try:
            item, cart = await shop.add_to_cart(thread_id, ref, count)
            added.append((fact(item), count))
        except ToolError as exc:
            item = await shop.resolve(ref)
            focus = fact(item)  # "solo quedan 2": the product stays in focus for "pon los 2 que quedan"
            cause = exc.__cause__
            left = getattr(cause, "available", 0) - _in_cart(cart or await shop.cart(thread_id), item.id)
            if isinstance(cause, OutOfStockError) and left > 0:
                offer = {"kind": "units", "id": item.id, "quantity": left}
                problems.append(f"{exc} ¿Te pongo {'la que queda' if left == 1 else f'las {left} que quedan'}?")
            else:
                problems.append(str(exc))
    if cart is None:
        cart = await shop.cart(thread_id)
    if added and offer is None:
        offer = {"kind": "checkout"}  # the reply ends asking whether to place the order
    out: dict[str, Any] = {
        "added": [{"item": item, "quantity": count} for item, count in added],
        "item": added[-1][0] if added else None,
        "problems": problems,
        "lines": cart_facts(cart),
        "total": str(cart.total),
        "new_offer": offer,
        **({"focus": focus} if focus and not added else {}),
    }
    if problems and not added:
        out["error"] = " ".join(problems)
    return out


def _in_cart(cart: Any, product_id: int) -> int:
    return next((i.quantity for i in cart.items if i.product_id == product_id), 0) if cart is not None else 0


async def confirm(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Checkout: ask for an explicit yes (a LangGraph interrupt) and place the order only then."""
    config = get_config()
    """Ask, stop, and go on only with the customer's answer (LangGraph interrupt)."""
    lines, total = state.get("lines", []), state.get("total", "0.00")
    if not lines:
        return {"error": "Tu carrito está vacío: añade algo antes de hacer el pedido."}
    answer = interrupt({"question": composer.confirm_question(lines, total), "total": total})
    if answer_kind(str(answer)) != "yes":
        return {"cancelled": True}
    try:
        order, placed = await context_of(runtime).shop.place_order(thread_id_of(config), Decimal(total))
    except ToolError as exc:
        return {"error": str(exc)}
    return {"order_id": order.id, "lines": [], "total": str(order.total),
            "item": None, "cancelled": False, "placed_units": sum(line.quantity for line in placed)}  # fmt: skip


def after_act(state: OrdersState) -> Literal["confirm", "reply"]:
    """Go on to the confirmation when the turn checks out (or added and asked to check out); else reply."""
    checkout = state.get("action") == "checkout" or (state.get("checkout_after") and state.get("added"))
    if checkout and not state.get("error") and not state.get("clause"):
        return "confirm"
    return "reply"


async def reply(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Tell the customer what was done to the cart or the order."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    action = state.get("action", "show")
    lines, total = state.get("lines", []), state.get("total", "0.00")
    item = state.get("item")
    facts: list[Any] = [{"cart": lines, "total": total}, *([item] if item else [])]
    if state.get("error"):
        draft = state["error"]
    elif action == "checkout" and state.get("clause"):
        draft = composer.cart(lines, total) + "\nPara confirmar el pedido, escríbeme «confirmar pedido»."
    elif state.get("cancelled"):
        draft = "De acuerdo, no hago el pedido. Tu carrito sigue guardado por si cambias de idea."
    elif state.get("order_id"):
        draft = composer.order_placed(state.get("order_id", 0), total, state.get("placed_units", 0))
    elif state.get("removed") and action == "add":  # "quita la Hellmann's y pon dos de la Hacendado"
        gone = state.get("removed") or {}
        draft = f"He quitado {gone.get('name')} del carrito.\n" + composer.added_several(
            state.get("added") or [], state.get("problems", []), total
        )
    elif action in ("add", "accept") and len(state.get("added") or []) == 1 and not state.get("problems"):
        draft = composer.added(item or {}, state["added"][0]["quantity"], total, seed=turn_seed(config, p.text))
    elif action in ("add", "accept") and state.get("added"):
        draft = composer.added_several(state["added"], state.get("problems", []), total)
    elif action == "remove" and item:
        draft = composer.removed(item, total)
    elif action == "set" and item:
        draft = composer.cart(lines, total)
    else:
        draft = composer.cart(lines, total)
    text = (
        draft
        if action == "checkout" or state.get("order_id")
        else await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    )
    offer = state.get("new_offer")
    return answer(
        text,
        shown=[a["item"] for a in state.get("added") or []] or ([item] if item else []),
        cart=lines,
        facts=facts,
        focus=item or state.get("focus"),
        query="",
        offer={**offer, "at": len(state.get("messages") or []) + 1} if offer else None,
    )


def build() -> Any:
    """The orders subgraph: understand, act, then confirm or reply (with its own checkpointer for the interrupt)."""
    graph = StateGraph(OrdersState, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("understand", understand)
    graph.add_node("act", act)
    graph.add_node("confirm", confirm)
    graph.add_node("reply", reply)
    graph.add_edge(START, "understand")
    graph.add_edge("understand", "act")
    graph.add_conditional_edges("act", after_act)
    graph.add_edge("confirm", "reply")
    graph.add_edge("reply", END)
    return graph.compile(name="orders")


orders_graph = build()
