"""Conversation subgraph: greetings, thanks, help, references to earlier turns, polite out-of-scope redirects.

"What can you do" gets the shop's capabilities; questions the shop cannot answer get a friendly way back to it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext, turn_seed
from agent.language import amounts_in, folded_words, pick
from agent.lexicon import asks_policy, greeting, policy_topics
from agent.respond import respond
from agent.shipping import asks_shipping_cost, cost_line, destination
from agent.turn import TurnOutput, TurnState, answer, context_of, turn_text
from tools.shop import thread_id_of

Kind = Literal[
    "policy", "greeting", "thanks", "ack", "goodbye", "help", "identity", "history", "no_context", "out_of_scope"
]

PATTERNS: list[tuple[Kind, re.Pattern[str]]] = [
    ("history", re.compile(r"\bque te (?:habia |he )?(?:preguntado|dicho|pedido|pregunte)\b|\bde que (?:hablabamos|estabamos)"
                           r"|\brepite\b|\blo (?:de antes|anterior)\b|\bque me (?:dijiste|has dicho|recomendaste)\b")),
    ("help", re.compile(r"\bayuda\b|\b(?:que|q) (?:puedes|sabes|podes) hacer\b|\bcomo funciona|\bque haces\b|(?<!\w)/(?:start|ayuda|help)\b"
                        r"|\bpara que sirves\b|\bopciones\b")),
    ("identity", re.compile(r"\bquien eres\b|\bcomo te llamas\b|\beres (?:un )?(?:bot|robot|humano|persona|ia)\b")),
    ("thanks", re.compile(r"\bgracias\b|\bgrasias\b|\bgrax\b|\bmuy amable\b|\bte lo agradezco\b")),
    ("ack", re.compile(r"^(?:si|no|vale|ok|okey|bien|entendido|claro|perfecto|genial|estupendo|de acuerdo|nada|"
                       r"nada mas|eso es todo|ya esta)$")),
    ("goodbye", re.compile(r"\badios\b|\bhasta (?:luego|pronto|manana|otra)\b|\bchao\b|\bnos vemos\b|\bbuenas noches\b")),
    ("greeting", greeting()),
    ("no_context", re.compile(r"^(?:y )?(?:el|la|los|las) (?:primer[oa]?|segund[oa]|tercer[oa]?|cuart[oa]|ultim[oa])\b|"
                              r"^(?:y )?(?:ese|esa|este|esta)$|^(?:y )?en (?:negro|blanco|rojo|azul)$")),
]  # fmt: skip

CAPABILITIES = ("buscar productos, darte precios y existencias exactos, compararlos, recomendarte lo que mejor te "
                "encaje y preparar tu pedido")  # fmt: skip


class ConversationState(TurnState, TurnOutput, total=False):
    kind: Kind
    asked: str  # the policy question this turn continues, with it ("¿cuánto cuesta el envío? ¿Y a Mallorca?")


_CONTINUES = re.compile(r"^(?:(?:vale|ok|bien|pues|entonces|oye|y|e|si|pero|tambien|ah)\b[ ,]*)+")


def policy_follow_up(messages: list[Any], text: str) -> str:
    """The question to look up when this turn continues a policy question, else "".

    "¿Y si vivo en Mallorca?" right after "¿cuánto cuesta el envío?" asks the shipping to Mallorca: both are
    searched together. Only a message that starts as a continuation ("y…", "si…", "¿y a Tenerife?") and names a
    policy's topic word, and does not ask about the shop on its own; up to three such turns chain.
    """
    if asks_policy(folded_words(text)) or not _continues(text):
        return ""
    asked = [m.content for m in messages[:-1] if isinstance(m, HumanMessage) and isinstance(m.content, str)]
    chain = [text]
    # "¿cuánto cuesta el envío?" "¿y si vivo en Mallorca?" "¿y a Tenerife?": back to where the question started,
    # through continuations that ask on their own too ("vivo en" is a cue), so the third still asks the shipping
    for question in reversed(asked[-3:]):
        chain.insert(0, question)
        if not _continues(question):
            break
    return " ".join(chain) if any(asks_policy(folded_words(q)) for q in chain[:-1]) else ""


def _continues(text: str) -> bool:
    folded = folded_words(text)
    return bool(folded and _CONTINUES.match(folded) and policy_topics().search(folded))


def classify(text: str) -> Kind:
    """Which kind of turn this is: a policy question, a greeting, thanks, a farewell, help, or out of scope."""
    folded = folded_words(text)
    if asks_policy(folded):  # "hola, ¿hacéis envíos a Canarias?" is a question, not a greeting
        return "policy"
    for kind, pattern in PATTERNS:
        if pattern.search(folded):
            return kind
    return "out_of_scope"


async def understand(state: ConversationState) -> dict[str, Any]:
    """Read the social turn (and any policy question in it, or the one it continues)."""
    text = turn_text(state)
    asked = policy_follow_up(state.get("messages", []), text)
    if asked:
        return {"kind": "policy", "asked": asked}
    return {"kind": classify(text)}


def _history(state: ConversationState) -> str:
    messages = state.get("messages", [])
    questions = [m.content for m in messages[:-1] if isinstance(m, HumanMessage) and isinstance(m.content, str)]
    answers = [m.content for m in messages[:-1] if isinstance(m, AIMessage) and isinstance(m.content, str)]
    if not questions:
        return "Todavía no me habías preguntado nada en esta conversación. ¿En qué te ayudo?"
    text = f"Me preguntaste: «{questions[-1]}»."
    if answers:
        text += f" Te respondí:\n{answers[-1]}"
    products = state.get("products") or []
    if products:
        text += f"\n(Seguimos con {len(products)} producto{'s' if len(products) > 1 else ''} a mano: "
        text += "puedes decirme «el primero», «el segundo»...)"
    return text


async def _policy_draft(context: AgentContext, config: Any, state: ConversationState, text: str) -> str:
    """The policies' answer, with the shipping figure first when it asks what shipping costs."""
    own = folded_words(text)
    text = state.get("asked") or text  # "¿y a Tenerife?" continues the question before
    found = context.shop.policy(text)
    draft = composer.policy(found, context.shop.policies.contact())
    folded = folded_words(text)
    if asks_shipping_cost(folded):  # "¿cuánto me falta para el envío gratis?": the figure first
        cart = await context.shop.cart(thread_id_of(config))
        rates, topics = context.shop.policies.shipping(), context.shop.policies.topics
        place = own if destination(own, rates, topics) is not None else folded  # the place said last
        line = cost_line(rates, cart.total, place, topics)
        if line and (found is None or not found.covered):  # the rates' own section, not a guess
            section = context.shop.policy(f"gastos de envío {text}")
            draft = composer.policy(section, None) if section is not None and section.covered else ""
        draft = f"{line}\n\n{draft}".strip() if line else draft
    return draft


async def reply(state: ConversationState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer the social turn or the policy question, in the shop's voice."""
    config = get_config()
    context = context_of(runtime)
    text = turn_text(state)
    seed = turn_seed(config, text)
    kind = state.get("kind", "out_of_scope")
    match kind:
        case "policy":
            draft = await _policy_draft(context, config, state, text)
            amounts = [{"total": str(a)} for a in amounts_in(draft)]  # the document's figures, quoted as written
            out = await respond(context, config, state.get("messages", []), draft=draft, facts=amounts)
            return answer(out, shown=[], facts=[], query="")
        case "greeting":
            draft = pick(
                [f"¡Hola! Soy el asistente de la tienda. Puedo {CAPABILITIES}. ¿Qué estás buscando?",
                 f"¡Buenas! Te ayudo a {CAPABILITIES}. ¿Qué necesitas?"], seed)  # fmt: skip
        case "thanks":
            draft = pick(["¡A ti! ¿Te ayudo con algo más?", "¡De nada! Aquí estoy si necesitas algo más."], seed)
        case "ack":
            draft = pick(["De acuerdo. ¿Te ayudo con algo más?", "Perfecto. Si necesitas algo más, aquí estoy."], seed)
        case "goodbye":
            draft = pick(["¡Hasta pronto! Tu carrito queda guardado.", "¡Adiós! Vuelve cuando quieras."], seed)
        case "help":
            draft = (f"Puedo {CAPABILITIES}. Prueba con «busco zapatillas de running», «¿cuánto cuesta el iPhone 15?», "
                     "«¿queda stock del Galaxy S24?», «recomiéndame algo parecido» o «añade el segundo al carrito».")  # fmt: skip
        case "identity":
            draft = f"Soy el asistente virtual de ventas de la tienda: puedo {CAPABILITIES}."
        case "history":
            draft = _history(state)
        case "no_context":
            draft = ("Todavía no te he enseñado ningún producto en esta conversación, así que no sé a cuál te refieres. "
                     "¿Qué estás buscando?")  # fmt: skip
        case _:
            draft = pick(
                [f"Eso se me escapa: solo sé de la tienda. Puedo {CAPABILITIES}. ¿Buscas algo en concreto?",
                 "No puedo ayudarte con eso, lo siento; lo mío es la tienda. ¿Te enseño algún producto o te doy "
                 "un precio?"], seed)  # fmt: skip
    out = (
        await respond(context, config, state.get("messages", []), draft=draft, facts=[])
        if kind not in ("history",)
        else draft
    )
    return answer(out, shown=[], facts=[], query=f"conversacion {kind}")


def build() -> Any:
    """The conversation subgraph: understand, then reply."""
    graph = StateGraph(ConversationState, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("understand", understand)
    graph.add_node("reply", reply)
    graph.add_edge(START, "understand")
    graph.add_edge("understand", "reply")
    graph.add_edge("reply", END)
    return graph.compile(name="conversation", checkpointer=False)


conversation_graph = build()
