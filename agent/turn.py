"""What every route subgraph shares: its input state, its output schema, and reading the turn's message."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from agent.context import AgentContext, default_context, last_user_text
from agent.lexicon import catalogue_words, variant_words
from agent.planner import Plan, clean_query, colour_of, plan, plan_text, qualifiers, stop_word
from state import CartFact, ProductFact, Route, keep_last_list, remember_seen
from tools.facts import fact
from vectorstore.index_snapshot import name_key
from vectorstore.query import Query
from vectorstore.text import fold, phrase_words, stem, stems, words


class TurnState(TypedDict, total=False):
    """The slice of the conversation a route subgraph reads."""

    messages: Annotated[list[AnyMessage], add_messages]
    products: Annotated[list[ProductFact], keep_last_list]
    focus: ProductFact | None
    seen: Annotated[list[ProductFact], remember_seen]
    routes: list[Route]
    cart: list[CartFact]
    offer: dict[str, Any] | None  # units offered by the last reply ("¿te pongo las 3 que quedan?")
    topic: dict[str, Any] | None  # the last list's words and kind: {"name": "piña", "subcategory": "Fruta"}
    clause: str  # set by the orchestrator: the part of the message this subgraph answers
    checkout: bool  # set by the assistant (LLM) for the orders subgraph: the customer asked to place the order
    order_details: dict[str, Any] | None  # the checkout's details (agent.checkout), "collecting" while it asks


class TurnOutput(TypedDict, total=False):
    """What a route subgraph hands back to the main graph (the answer already appended to the messages)."""

    messages: Annotated[list[AnyMessage], add_messages]
    reply: str
    shown: list[ProductFact]
    products: Annotated[list[ProductFact], keep_last_list]
    focus: ProductFact | None
    seen: Annotated[list[ProductFact], remember_seen]
    facts: list[Any]
    query: str
    cart: list[CartFact]
    offer: dict[str, Any] | None
    topic: dict[str, Any] | None
    order_details: dict[str, Any] | None


def topic_of(words: str, shown: list[ProductFact]) -> dict[str, Any] | None:
    """What a list was about, for questions that lean on it later ("¿y la de Cortes?", "¿y en lata?")."""
    if len(shown) < 2 or not words:
        return None
    kinds = [str(p.get("subcategory") or p.get("category") or "") for p in shown]
    return {"name": words, "subcategory": max(set(kinds), key=kinds.count)}


def answer(text: str, **updates: Any) -> dict[str, Any]:
    """A subgraph's result: the reply, appended to the conversation as the assistant's message."""
    seen = updates.get("shown") or []
    return {"reply": text, "messages": [AIMessage(content=text)], **({"seen": seen} if seen else {}), **updates}


Finder = Callable[[Any, Runtime[AgentContext], Plan], Awaitable[dict[str, Any]]]


def planned(find: Finder) -> Any:  # a LangGraph node (its Protocol types do not accept a Callable alias)
    """A route subgraph's first node: read the turn (plan) and fetch what it asks for, in one step."""

    async def look_up(state: Any, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        p = await read_turn(state, context_of(runtime))
        return {"plan": p.dump(), **await find(state, runtime, p)}

    return look_up


def two_step_graph(state: type[Any], name: str, look_up: Any, reply: Any) -> Any:
    """A route subgraph: look_up (plan + fetch) then reply, own state, TurnState in and TurnOutput out."""
    graph = StateGraph(state, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("look_up", look_up)
    graph.add_node("reply", reply)
    graph.add_edge(START, "look_up")
    graph.add_edge("look_up", "reply")
    graph.add_edge("reply", END)
    # No checkpointer of its own: only the orders subgraph, whose interrupt must be resumable, keeps one.
    return graph.compile(name=name, checkpointer=False)


def context_of(runtime: Runtime[AgentContext] | None) -> AgentContext:
    """The agent context of a node run, or the default one when the graph runs without it."""
    context = getattr(runtime, "context", None)
    return context if isinstance(context, AgentContext) else default_context()


def turn_text(state: TurnState) -> str:
    """The text this subgraph answers: the orchestrator's clause, or the customer's last message."""
    return state.get("clause") or last_user_text(state.get("messages", []))


async def read_turn(state: TurnState, context: AgentContext) -> Plan:
    """Plan the turn against the products in play; categories come from the live catalogue."""
    await context.shop.catalog.ensure_fresh()
    snapshot = context.shop.catalog.index.snapshot()
    result = plan(
        turn_text(state),
        products=list(state.get("products") or []),
        focus=state.get("focus"),
        seen=list(state.get("seen") or []),
        categories=snapshot.categories,
        attribute_keys=snapshot.attribute_keys,
    )
    infinitive = re.search(r"\b([a-z]+(?:ar|er|ir))\b", result.purpose_said.replace("para ", " ").replace("pa ", " "))
    if infinitive and infinitive.group(1) in snapshot.name_words:
        # "Crema para untar de pavo Hacendado": a product's name, not what it is for
        result.query = clean_query(f"{result.query} {result.purpose_said}")
    said = name_said(result.text, snapshot)
    if said and not result.references:
        # "Atún claro en aceite de oliva Hacendado" copied from a list: every word of the name counts ("claro" is
        # no filler here), and a kind word inside it ("cerdo" in "Rabo de cerdo") does not filter by category.
        name, items = said
        query = result.query.split()
        result.query = " ".join([*(w for w in name if not stop_word(w)), *(w for w in query if w not in name)])
        if result.category and all(fold(result.category) not in (fold(i.category), fold(i.subcategory)) for i in items):
            result.category = None
    result.query = in_catalogue_words(result.query, snapshot)
    topic = state.get("topic")
    if topic:
        on_topic(result, topic, len(state.get("products") or []), snapshot)
    # what the talk is about: the product in focus, or else the kind of the last list ("¿y en lata?" after pineapples)
    about = state.get("focus") or state.get("topic")
    if about and result.query and not result.references and not result.candidates:
        result.query = about_the_focus(result, about)
    if result.variant_words and len(result.references) == 1:
        anchor = context.shop.catalog.index.items.get(int(result.references[0].get("id", 0)))
        other = await context.shop.variant(anchor, result.variant_words) if anchor else None
        if other is not None:
            result.references = [fact(other)]
    return result


def name_said(text: str, snapshot: Any) -> tuple[tuple[str, ...], list[Any]] | None:
    """The longest product name of two words or more that the message says word for word, and its products."""
    tokens = phrase_words(text)
    names = snapshot.full_names
    for size in range(min(len(tokens), 20), 1, -1):
        for start in range(len(tokens) - size + 1):
            rows = names.get(tuple(tokens[start : start + size]))
            if rows:
                return tuple(tokens[start : start + size]), [snapshot.items[r] for r in rows]
    return None


def on_topic(result: Plan, topic: Mapping[str, Any], shown: int, snapshot: Any) -> None:
    """A turn that says no product of its own is about the kind of the last list (words the shop lacks left out)."""
    unknown = set(snapshot.unknown_words(f"{topic['name']} {result.query}"))
    kind = " ".join(w for w in fold(topic["name"]).split() if w not in unknown)
    extreme = result.cheapest or result.dearest
    sample = shown >= 5 or bool(topic.get("sample"))  # a few of many: "the cheapest" means of them all
    if extreme and not result.query and sample and len(result.references) == 1 and not among(result.folded):
        # "¿cuál es el más barato?" after five of many peanuts: the cheapest peanuts, not of those five (and of the
        # list's kind: the cheapest "móviles" is a phone, not a cable for one)
        result.query, result.references = kind, []
        result.kind = result.kind or snapshot.categories.get(fold(str(topic.get("subcategory") or "")))
    budget = result.max_price is not None or result.min_price is not None
    if budget and not (result.query or result.references or result.category or result.kind):
        # "¿algo que no pase de 5 €?" after a list of chocolates: that kind of product within the budget
        result.query = kind
        result.category = snapshot.categories.get(fold(str(topic.get("subcategory") or "")))
    said = {w for _, ws in qualifiers(result.folded) for w in ws}
    if said and not result.references and result.query:
        # "¿y alguno sin sal?" after a list of peanuts: peanuts without salt
        rest = [w for w in result.query.split() if w not in said and w not in ("sin", "con") and w not in unknown]
        if not rest:
            result.query = " ".join([kind, *(w for w in result.query.split() if w not in unknown)])


_AMONG_SHOWN = re.compile(r"\bde (?:esos|esas|estos|estas|ellos|ellas|los que|las que|la lista|los \w+ que)\b")


def among(folded: str) -> bool:
    """Whether the customer limits a choice to what was shown ("el más barato de esos")."""
    return bool(_AMONG_SHOWN.search(folded))


_ANOTHER_OF_KIND = re.compile(r"^(?:y |pues |vale |entonces )*(?:la|el|los|las) de (\w+(?: \w+)?)$")


def about_the_focus(p: Plan, focus: Mapping[str, Any]) -> str:
    """Words that only make sense about the product talked about, completed with it.

    "¿y en lata?", "¿lo hay en formato grande?", "¿y congeladas?" ask for that product in another version; "¿y la
    de Cortes?" for the same kind of product from another brand.
    """
    words = p.query.split()
    if all(w in variant_words() or w.isdigit() or colour_of(w) for w in words):
        head = re.sub(r"\s+—.*$", "", str(focus.get("name", "")))
        brand = fold(str(focus.get("brand") or ""))
        return " ".join([*(w for w in fold(head).split() if w != brand), *words])
    other = _ANOTHER_OF_KIND.match(p.folded.strip(" ,.?"))
    if other and len(words) <= 2:
        return f"{p.query} {fold(str(focus.get('subcategory') or focus.get('category') or ''))}".strip()
    return p.query


def in_catalogue_words(query: str, snapshot: Any) -> str:
    """The query with regional and everyday words swapped for the ones this catalogue uses ("palta" -> "aguacate")."""
    if not query:
        return query
    # Known means a product's name uses it: "medias" in some description does not make a shop sell "medias".
    names = snapshot.name_index.vocabulary
    tokens = snapshot.name_words

    def used(word: str) -> bool:  # as written or in the plural: "medias" is not "medio"
        return word in tokens or word.rstrip("s") in tokens or (word.endswith("es") and word[:-2] in tokens)

    return catalogue_words(
        query, lambda word: stem(word) in names, lambda phrase: name_key(stems(phrase)) in snapshot.name_keys, used
    )


def turn_vector(context: AgentContext, text: str) -> Any:
    """The turn's one embedding: its product words (the message itself when it has none).

    Computed once (memoised by the embedder) and shared by the semantic cache and the search; the product
    words, not the whole message, because "añade ... al carrito" pulls a vector away from the product and
    measurably picks the wrong version of a model.
    """
    words = plan_text(text).query
    return context.shop.catalog.embedder.query_vector(words or " ".join(text.split()))


def search_query(context: AgentContext, text: str, words: str) -> Query:
    """What to search: the product words of the message, for both keywords and meaning."""
    return Query(words or " ".join(text.split()), context.shop.catalog.embedder)


def qualified(found: list[Any], folded: str, *, key: Callable[[Any], Any] = lambda x: x) -> list[Any]:
    """Keep what has what was asked "con", and what lacks what was asked "sin" (when some of them do).

    `key` gives the product of each element (a search hit's `.item`; products themselves by default).
    """
    for way, said in qualifiers(folded):
        wanted = {stem(w) for w in said}
        if way == "con":
            keep = [f for f in found if wanted <= {stem(t) for t in words(_all_text(key(f)))}]
        else:
            free = re.compile(rf"\b(?:sin|0 ?%) (?:\w+ )?{re.escape(said[0])}")
            keep = [f for f in found if free.search(fold(key(f).name))]
            keep = keep or [f for f in found if not re.search(rf"\bcon {re.escape(said[0])}", fold(key(f).name))]
        if keep and len(keep) < len(found):
            found = keep
    return found


def _all_text(item: Any) -> str:
    values = " ".join(str(v) for v in (item.attributes or {}).values())
    return fold(f"{item.name} {item.description or ''} {values}")
