"""The router: which subgraph answers a turn. Tiered, cheapest first.

1. Rules over the folded text: greetings and thanks, commands, cart words, an exact SKU, the cue words of each
   intent (precio/cuánto cuesta, stock/quedan, recomiéndame/parecido, busco/tenéis...). Two different intents in
   one message go to the orchestrator. A bare follow-up ("¿y el segundo?") keeps the previous turn's route.
2. When no rule speaks: similarity of the turn's query embedding (the one search will reuse) to Spanish example
   utterances per route, accepted above a threshold fitted on the routing dataset.
3. Only when an LLM is configured and the embedding tier is unsure: the LLM with structured output.
Whatever is left and mentions nothing the shop sells is "conversation" (a polite redirect).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agent import buying
from agent.features import asks_pack_vs_loose, feature_of, per_unit_of
from agent.language import folded_words
from agent.lexicon import greeting, policy_cues, remarks, respell
from agent.llm_retry import invoke_llm, llm_declined
from state import ROUTES, Route
from vectorstore.embeddings import Embedder
from vectorstore.text import fold

log = logging.getLogger(__name__)

EXAMPLES_FILE = Path(__file__).with_name("route_examples.json")
EMBEDDING_THRESHOLD = 0.55  # cosine to the nearest examples; below it the tier abstains
Intent = Literal["products", "prices", "recommendations", "inventory", "orders", "policy"]
#: The subgraph that answers each intent (a question about the shop's policies is part of the conversation).
INTENT_ROUTE: dict[str, Route] = {"policy": "conversation"}

# Imperative "put it in the cart" verbs, with or without enclitic pronouns (mete, métela, añádelo, apúntame...).
_CART_VERBS = (
    r"(?:(?:anad|añad|agreg|met|pon|anot|apunt|ech)"
    r"(?:e|a|ame|eme|alo|ala|elo|ela|alos|alas|elos|elas|amelo|amela|emelo|emela|me|lo|la|le|les|is|id|idme|inos)?|"
    # "resérvame dos", "apártalo", not "Cerveza reserva especial"
    r"(?:reserv|apart|guard)(?:ame|eme|alo|ala|alos|alas|amelo|amela|amelos|amelas))"
)
CUES: dict[str, re.Pattern[str]] = {
    "orders": re.compile(
        r"\bcarrit|\bcarro\b|\bcesta\b|\bir a caja\b|\b"
        + _CART_VERBS
        + r"\b(?:(?<!\bpon)(?<!\bponme)|(?! (?:en|la|el) (?:cine|tele|television)\b))|"
        r"\bpon(?:me)? (?:la|el) (?:tele|television)\b(?= y | al carrito|,| que|$)|"
        # "pues las 3", "los dos": how many of the product in focus, or which of the list
        r"^(?:(?:pues|vale|entonces|ok|bueno|dale|andale|orale|listo|venga),? )*(?:las|los) (?:\d+|dos|tres|cuatro|cinco)$|"
        r"\b(?:quit|elimin|sac|borr|retir)\w* (?:\w+ ){0,4}(?:del|de la|de mi) (?:carrito|cesta|carro|pedido)|"
        r"\b(?:quitalo|quitala|sacalo|sacala|eliminalo|eliminala|quita (?:el|la|los|las|uno|una|todo))\b|"
        r"\b(?:quiero|voy a|vamos a) (?:comprar|pedir|encargar|ordenar)\w*\b|(?<!\bsi )\bcompr(?:o|a|á|alo|ala|ame|amelo|amela)\b(?! para)|"
        r"\bme (?:lo|la|los|las|quedo|llevo) (?!para)|(?<!\bsi )\b(?:lo|la|los|las) (?:quiero|compro|pido|encargo)\b(?! (?:sobre todo |mas que nada |sobre todo )?para)|"
        r"\b(?:hacer|realizar|confirmar|tramitar|finalizar|cerrar|terminar|cerra|finaliza) (?:el |la |mi )?(?:pedido|compra)\b|"
        r"\bconfirm\w*\b|\bpagar\b|\bcheckout\b|\bencarg(?:ar|o|a)\b|\bordenar\b|"
        r"\b(?:cambia|actualiza|modifica|sube|baja)\w* (?:\w+ ){0,3}(?:cantidad|unidades|a \d)|"
        # the cart's total, and "pues quiero 2" (a count, no product)
         + buying.CART_TOTAL + "|"
        r"^(?:(?:pues|vale|entonces|ok|bueno),? )*(?:quiero|ponme|dame|quisiera) (?:\d+|dos|tres|cuatro|cinco)$|"
        # "dame dos", "pásame el barato", "regáleme 2 paquetes", "llevo 3 bandejas" (not "dame el precio de...")
        r"\b(?:dame|damelo|damela|deme|demelo|dadme|denme|pasame|paseme|pasamelo|pasamela|mandame|mandeme|mandamelo|"
        r"mandenme|regalame|regaleme|regalenme|sumale|sumame|traeme|traigame|vendeme|vendame|agregueme|agreguenme|"
        r"pongame|ponganme)\b(?! (?:el |la |los |las |un |una |mas |algo de |tu )?(?:precio|precios|informacion|"
        r"info|detalles?|opciones|ideas?|recomendaci\w+|lista|datos|ficha|caracteristicas|consejos?|link|enlace|"
        r"tiempo|minuto|momento|opinion|numero de))|"
        r"\bllevo (?:\d+|un|una|dos|tres|cuatro|cinco|seis|el|la|los|las)\b|"
        # "y uno del primero", "3 del último": a count of a product picked from the list by position
        r"^(?:y |e )?(?:\d+|un|uno|una|dos|tres|cuatro|cinco|seis) (?:del|de la|de los|de las) "
        r"(?:primer[oa]?|segund[oa]|tercer[oa]?|cuart[oa]|ultim[oa])$|"
        r"\bmejor solo (?:una|un|uno|dos|tres|cuatro|cinco|\d+)\b|\bque sean (?:una|un|dos|tres|cuatro|\d+)\b|"
        r"\bquiero (?:\d+|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)\b(?! (?:euros?|€|pesos|gb|pulgadas))|\bme (?:lo|la|los|las) quedo\b|"
        + buying.CHECKOUT.pattern
    ),
    "prices": re.compile(
        r"\bprecios?\b|\bcuest(?:a|an)\b|\bquesta\b|\bcuanto (?:vale|valen|es|son|sale|salen|me sale|cobr|cuest)|"
        r"\bque valen?\b|\b(?:a|en|por) cuanto\b|\ba como (?:esta|estan|va|van|sale|salen)\b|"
        r"\bcoste\b|\bcosto\b|\bbarat|\beconomic|\bmas car[oa]s?\b|"
        r"\bcompar|\bpvp\b|\bofertas?\b|\bdescuentos?\b|\bpresupuesto\b|\bsale por\b|\bsale (?:mas )?a cuenta\b|"
        r"\bcuanto\b.*\b(?:euros|€)|\beuros?\b|€|\bpor menos de\b|\biva\b|\brebaj|"
        r"\bcuanta (?:es la )?diferencia\b|\bla diferencia (?:de precio )?entre (?:los|las) (?:dos|tres)\b"
    ),
    "inventory": re.compile(
        r"\bsto[ck]k?\b|\bexistencias?\b|\b(?:teneis|tienen|tienes|tenes|hay)\b.*\ben (?:la |el )?tall[ae] \w+|\bdisp\w{0,2}nib|\bqued(?:a|an|e|en)\b|\bagotad|\bunidades\b(?!.*\bcarrito)|"
        r"\brepon|\breposici|\binventario\b|\bllega(?:ra|n)? (?:mas|de nuevo)|\bvuelve(?:n)? a (?:haber|tener)|"
        r"\bsin stock\b|\ben tienda\b|\bhay (?:unidades|existencias)\b"
    ),
    "recommendations": re.compile(
        r"\bre[ck]omi?[ae]nd|\brecomendaci|\baconsej|\bsugier|\bsugerenci|\bsuger(?:is|ir|ime|irme|idme)\b|\bparecid|"
        r"\bsimilar|\balternativ|\b(?:es|sera|seria) mejor\b|\bcual (?:me|le|te|nos) (?:va|vendria|iria|conviene) mejor\b|"
        r"\ben vez de\b|\bcombina\b|\bva bien con\b|\bcomplement|\baccesorios?\b|\bregal|\bconviene\b|"
        r"\b(?:le|les) (?:va|van|pega|pegan|sirve|sirven|queda bien)\b|\bque (?:me )?(?:compro|llevo|pongo) (?:para|si)\b|"
        r"\bque me llevo\b|\bcual (?:es )?(?:el|la) mejor\b|\balgo mejor\b|\bmejor que\b|\bmerece la pena\b|"
        r"\bvale la pena\b|\bopinas?\b|\bideal para\b|\bpor donde empiezo\b|\bque necesito\b"
    ),
    "products": re.compile(
        r"\bbusc|\b(?:necesit\w*|quiero|quisiera) (?:un|una|unos|unas|\d+|algo|comprar)\b|\btrabaj(?:ais|an|as) (?:la marca|con)\b|^(?:y |pero |vale )?cual(?:es)? \w+|\bteneis\b|\btienen\b|\btienes\b|\btenes\b|\bvend(?:eis|en|es)\b|\bmanej(?:an|ais)\b|\bhay\b|\bhabra\b|"
        r"\bmuestr|\bmostr|\bensen|\benseñ|\bcaracteristicas\b|\bdetalles\b|\bficha\b|\bespecificaciones\b|"
        r"\binformacion (?:de|sobre)\b|\bcomo es\b|\bque tal (?:es|son)\b|\bque \w+ (?:teneis|tienen|hay)\b|"
        r"\bquiero ver\b|\bcatalogo\b|\bmodelos? de\b|\bmarcas? de\b|\bde que (?:color|talla|tamano|material)\b|"
        r"\bmide\b|\bpesa\b|\bfunciona con\b|\bcuant[oa]s? (?:megapixeles|gb|pulgadas|vatios|horas|litros|kilos|mah)\b|"
        r"\bcuanto (?:dura|pesa|mide|ocupa)\b|\bque (?:tamano|capacidad|autonomia|resolucion|potencia|medidas|bateria)\b|"
        r"\b(?:sirve|vale|es compatible) (?:para|con)\b"
    ),
}
SMALL_TALK = re.compile(
    r"\bgracias\b|\bgrasias\b|\bgrax\b|\bmuchas gracias\b|\badios\b|\bhasta (?:luego|pronto|manana)\b|\bchao\b|\bnos vemos\b|\bayuda\b|"
    r"\b(?:que|q) (?:puedes|sabes|podes) hacer\b|\bquien eres\b|\bcomo te llamas\b|\bcomo funcionas?\b|\beres (?:un )?(?:bot|robot|humano|persona)\b|"
    r"\bque te (?:habia |he )?(?:preguntado|dicho|pregunte)\b|\bde que (?:hablabamos|estabamos hablando)\b|\brepite\b|"
    r"\bperfecto\b|\bvale,? gracias\b|\bok\b|\bgenial\b|\bestupendo\b|\bde acuerdo\b|\bentendido\b|"
    r"^(?:si|no|vale|ok|okey|bien|claro|nada|nada mas|eso es todo|ya esta)$"
)
OUT_OF_SCOPE = re.compile(
    r"\bque tiempo (?:hace|va a hacer)\b|\bel tiempo (?:en|de|para|manana|hoy)\b|\bclima\b|\bva a llover\b|\blluvia\b|"
    r"\bfutbol\b|\bpartido de\b|\bliga\b|\bmundial\b|\bmadrid (?:o|y) (?:el )?barca\b|\bpolitic|\belecciones\b|"
    r"\bpresidente\b|\bgobierno\b|\bchiste\b|\breceta de\b|\bcomo se (?:hace|cocina|prepara)\b|\bdeberes\b|"
    r"\btarea\b|\bmedico\b|\bdiagnostic|\bsintomas?\b|\bnoticias\b|\bcapital de\b|\bquien gano\b|"
    r"\bhoroscopo\b|\bloteria\b|\bbitcoin\b|\bcriptomoneda|\bnetflix\b|\bpelicula\b|\bserie de tv\b|"
    r"\bsentido de la vida\b|\bcuantos anos tienes\b|\btraduce\b|\bescribe (?:un|una) (?:poema|cancion|redaccion)\b|"
    r"^por que\b|\brestaurante|\bhotel(?:es)?\b|\bvuelos?\b|\bjuega (?:el|la)\b|\bseleccion (?:espanola|argentina|mexicana|nacional)\b|\bcancion\b|"
    r"\bhay alguien\b|\bdireccion de envio\b"
)
# Never the shop's business, whatever else the message says ("¿cuánto es 15 por 23? son los deberes")
# Asking the shop for something ("¿qué tablets tienen?", "busco..."): with a kind the catalogue files, a product
# question even beside an off-topic word ("es para que mi nene haga la tarea").
SHOPPING = re.compile(r"\b(?:teneis|tienen|tienes|tenes|hay|vendeis|venden|vendes|busco|buscando|necesito|manejan)\b")
OFF_TOPIC_ALWAYS = re.compile(r"\bdeberes\b|\btarea\b|\bchiste\b|\bhoroscopo\b|\bloteria\b|\bpoema\b|\btraduce\b")
COMMANDS: dict[str, Route] = {"/start": "conversation", "/ayuda": "conversation", "/help": "conversation",
                              "/carrito": "orders", "/pedido": "orders"}  # fmt: skip
WANTS_TO_ORDER = re.compile(r"\b(?:quiero|quisiera|voy a|vamos a) (?:pedir|comprar|encargar)\b")
EXPLICIT_PRICE = re.compile(
    r"\bprecio|\b(?:a|en|por) cuanto\b|\bcuest[ae]n?\b|\bvalen?\b|\beuros?\b|€|\bbarat|\bcar[oa]s?\b"
)
# "…, sin pasarme de 600 €": the budget of what the clause before asks for
BUDGET_ONLY = re.compile(
    r"^(?:y )?(?:que )?(?:sin pasar(?:me|nos)? de|no mas de|que no pase de|menos de|hasta|maximo|como mucho|por menos de|"
    r"de unos|de menos de|entre)\s+\d+(?:[.,]\d{1,2})?(?:\s*(?:€|euros?|eur|pesos))?(?: y \d+(?:[.,]\d{1,2})?\s*(?:€|euros?)?)?$"
)
# "…, la más barata que tengas": which one of what the clause before asks for, not another question
SUPERLATIVE_ONLY = re.compile(r"^(?:y )?(?:el|la|los|las|lo)? ?mas (?:barat|econom|car)\w*(?: (?:que|de) .*)?$")
# "…, ¿qué hay?", "…, ¿qué tenéis?": the question of the clause before it, not another one
OPEN_QUESTION = re.compile(
    r"^(?:y )?(?:que|cuales?) (?:hay|teneis|tienen|tenes|tienes|me ofreces|ofreceis|opciones hay)$"
)
PAYING_WITH = re.compile(
    r"(?:que )?(?:lo |la )?(?:pago|pagare|pagaria|voy a pagar|te pago|se lo pago) (?:con|por|en)\b"
)
CONCESSIVE = re.compile(r"(?:aunque|incluso|aun si|aunque sea|pero que)\b")
CART_EDIT = re.compile(
    r"^(?:(?:mejor|pues|vale|y|ahora|oye|bueno|entonces),? )*(?:quit|sac|elimin|borr|retir|anad|agreg|met|pon|ech)\w*\b"
)
INTERJECTION = re.compile(
    r"^(?:(?:vaya|vale|ok|okey|pues|bueno|genial|perfecto|entonces|venga|ah|oh|uy|mmm|hmm|oye)\b[ ,.!]*)+"
)
FOLLOW_UP = re.compile(
    r"^(?:y |e )?(?:el|la|lo|los|las) (?:primer[oa]?|segund[oa]|tercer[oa]?|cuart[oa]|ultim[oa]|\d)\b|"
    r"^(?:y |e )?(?:en|de|con) (?:\w+ ?){1,3}$|^y (?:el|la|los|las|si|de|del|en|un|una|unos|unas)\b|"
    r"^(?:y )?(?:el|la) (?:mas|menos)\b|"
    r"^(?:y )?(?:ese|esa|este|esta|eso|esto)\b|^(?:y )?(?:otro|otra|otros)\b"
)
# "¿y chimichurri?", "¿y frutillas?": the question before, about something else (never a purchase by itself)
FOLLOW_UP_THING = re.compile(r"^y \w+(?: \w+)?$")
# Clauses: split at every "?", ";", ". ", "," and " y "; clauses with no cue of their own are merged back into the
# previous one ("precio del iphone y del galaxy" stays one price question).
CLAUSE_SPLIT = re.compile(r"(\s*(?:\?|;|\. |(?<!\d),|,(?!\d)|\by\b|\be\b(?= \w)|\bademas\b|\btambien\b)\s*)")


@dataclass(frozen=True, slots=True)
class Decision:
    """The route(s) of a turn and how sure the router is; `intents` lists the parts of a multi-intent turn."""

    route: Route
    tier: Literal["rules", "embedding", "llm", "default"]
    confidence: float
    intents: tuple[Intent, ...] = ()
    clauses: tuple[str, ...] = ()


class RouteChoice(BaseModel):
    """Structured output asked of an LLM when the cheaper tiers are unsure."""

    route: Route = Field(
        description="products, prices, recommendations, inventory, conversation, orders u orchestrator"
    )
    intents: list[Intent] = Field(default_factory=list, description="Si hay varias intenciones, cuáles, en orden")


def intents_in(folded: str, attribute_keys: frozenset[str] = frozenset()) -> list[Intent]:
    """The intents whose cue words occur, in order of first appearance."""
    found: list[tuple[int, Intent]] = []
    for name, pattern in CUES.items():
        match = pattern.search(folded)
        if match:
            found.append((match.start(), name))  # type: ignore[arg-type]
    policy = policy_cues().search(folded)
    if policy:
        found.append((policy.start(), "policy"))
    if buying.implicit_purchase(folded):
        return ["orders"]  # "vale, el cortacésped y la pistola, ¿cuánto es?": a purchase and its total
    if (per_unit_of(folded) or asks_pack_vs_loose(folded)) and not any(name == "prices" for _, name in found):
        found.append((0, "prices"))
    if feature_of(folded, attribute_keys) is not None and not any(name == "products" for _, name in found):
        found.append((0, "products"))  # "¿cuál pesa menos?", "¿viene con cargador?": about the products shown
    return [name for _, name in sorted(found)]


def clause_intents(folded: str, attribute_keys: frozenset[str] = frozenset()) -> list[tuple[str, Intent]]:
    """Split a message into clauses and give each its main intent (the ones with a cue)."""
    out: list[tuple[str, Intent]] = []
    pieces = CLAUSE_SPLIT.split(folded)
    glue = " "
    pending = ""  # "me gustan las blancas. ¿cuántas te quedan?": said before the first question, and part of it
    for i, piece in enumerate(pieces):
        if i % 2:  # a delimiter: kept, so a clause merged back reads as written ("los blancos y unas medias")
            glue = " y " if piece.strip() in ("y", "e") else (", " if piece.strip() == "," else " ")
            continue
        clause = piece.strip(" ,.")
        if not clause:
            continue
        # "…, aunque esté agotado" qualifies the question before it; "…, que pago con PayPal" the order before it;
        # "…, ¿cuánto es todo?" asks the total of the purchase before it
        aside = out and (
            not remarks().sub(" ", clause).strip(" ,.")  # "..., tienes permiso": a remark, not a request
            or CONCESSIVE.match(clause)
            or PAYING_WITH.match(clause)
            or (out[-1][1] == "orders" and buying.total_only(clause))
            or OPEN_QUESTION.match(clause)
            or SUPERLATIVE_ONLY.match(clause)
            or BUDGET_ONLY.match(clause)
        )
        found = None if aside else main_intent(intents_in(clause, attribute_keys), clause)
        if found == "prices" and out and out[-1][1] == "orders" and buying.asks_total(clause):
            found = "orders"  # "ponme 2 botellas y 3 botes de pelotas cuánto es": one purchase and its total
        if found:
            if pending and found in ("policy", "conversation") and buying.decided(pending):
                out.append((pending, "orders"))  # "bueno, la negra entonces. ¿cómo puedo pagar?": takes it, then asks
                pending = ""
            if pending:
                clause, pending = f"{pending}, {clause}", ""
            if out and out[-1][1] == found:
                out[-1] = (f"{out[-1][0]}{glue}{clause}", found)
            else:
                out.append((clause, found))
        elif out:
            out[-1] = (f"{out[-1][0]}{glue}{clause}", out[-1][1])
        else:
            pending = f"{pending}, {clause}" if pending else clause
    return out


def main_intent(found: list[Intent], folded: str = "") -> Intent | None:
    """One clause, several cues: the most specific wins (a price question that says "tenéis" is about price)."""
    if "orders" in found and (buying.then_checkout(folded) or WANTS_TO_ORDER.search(folded)):
        return "orders"  # "tramita el pedido, que pago con PayPal": the order, not the payment methods
    if per_unit_of(folded) or asks_pack_vs_loose(folded):
        return "prices"  # "¿cuál conviene más por kilo?": a price question, though it says "conviene"
    if (
        set(found) <= {"products", "prices"}
        and "products" in found
        and feature_of(folded)
        and not EXPLICIT_PRICE.search(folded)
    ):
        return "products"  # "¿y de cuánto es el paquete?": about the product, though it says "cuánto es"
    # "¿cuánto cuesta el envío?", "¿puedo pagar con Bizum?": about the shop, though they say "cuesta" or "pagar"
    order: tuple[Intent, ...] = ("policy", "orders", "recommendations", "prices", "inventory", "products")
    for name in order:
        if name in found:
            return name
    return None


def _orders_said(text: str) -> bool:
    """Whether a message says anything of buying or of the cart: a cue, a buying verb or a count."""
    folded = respell(folded_words(text, "¿?¡!"))
    return bool(
        CUES["orders"].search(folded) or buying.HAS_BUY.search(folded) or buying.ENCLITIC.search(folded)
    ) or any(w.count for w in buying.wanted(folded))


class Router:
    """Rules, then embeddings, then (optionally) an LLM."""

    def __init__(self, embedder: Embedder | None, llm: Any = None, examples: dict[str, list[str]] | None = None):
        self.embedder = embedder
        self.llm = llm
        self._examples = examples
        self._matrix: np.ndarray | None = None
        self._labels: list[Route] = []

    # ------------------------------------------------------------------ tier 2 data

    def warm_up(self) -> None:
        """Embed the example utterances now (a second or two) rather than during the first customer's turn."""
        self._load_examples()

    def _load_examples(self) -> None:
        if self._matrix is not None or self.embedder is None:
            return
        examples = self._examples
        if examples is None:
            examples = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")) if EXAMPLES_FILE.exists() else {}
        texts: list[str] = []
        labels: list[Route] = []
        for route, utterances in examples.items():
            if route in ROUTES:
                texts += utterances
                labels += [route] * len(utterances)
        self._labels = labels
        self._matrix = self.embedder.document_vectors(texts) if texts else np.zeros((0, self.embedder.dimension))

    def embedding_vote(self, vector: np.ndarray, k: int = 5) -> tuple[Route | None, float]:
        """k-nearest example utterances, similarity-weighted; (None, score) when below the threshold."""
        self._load_examples()
        if self._matrix is None or not len(self._labels):
            return None, 0.0
        sims = self._matrix @ vector
        top = np.argsort(-sims)[:k]
        weights: dict[Route, float] = {}
        for i in top:
            weights[self._labels[i]] = weights.get(self._labels[i], 0.0) + float(sims[i])
        route = max(weights, key=lambda r: weights[r])
        best = float(max(sims[i] for i in top if self._labels[i] == route))
        return (route if best >= EMBEDDING_THRESHOLD else None), best

    # ------------------------------------------------------------------ decision

    def rules(
        self,
        text: str,
        previous: list[Route] | None = None,
        sku_hit: bool = False,
        attribute_keys: frozenset[str] = frozenset(),
        catalogue_match: Callable[[], bool] | None = None,
    ) -> Decision | None:
        """The rules' route, or None when they abstain. `catalogue_match` (lazy) overrules an off-topic word."""
        folded = respell(folded_words(text, "¿?¡!"))  # commas and dots split clauses
        if not folded:
            return Decision("conversation", "rules", 1.0)
        first = folded.split()[0]
        if first in COMMANDS:
            return Decision(COMMANDS[first], "rules", 1.0)
        shop_cue = any(CUES[k].search(folded) for k in ("orders", "prices", "inventory"))
        if OUT_OF_SCOPE.search(folded) and (not shop_cue or OFF_TOPIC_ALWAYS.search(folded)):
            # "¿qué tablets tienen? es para que mi nene haga la tarea": a product question with an aside
            asks_for_product = bool(SHOPPING.search(folded))
            if not (asks_for_product and catalogue_match is not None and catalogue_match()):
                return Decision("conversation", "rules", 0.85)
        if previous and previous[0] == "orders" and CART_EDIT.search(folded):
            return Decision("orders", "rules", 0.85)  # "mejor quita un cable", "saca una bolsa" while shopping
        if buying.implicit_purchase(folded) or ("?" not in text and buying.listed_purchase(folded)):
            return Decision("orders", "rules", 0.85)  # "vale, el cortacésped y la pistola, ¿cuánto es?"
        # "¿Vendéis raquetas? Recomiéndame una": two questions, two clauses
        marked = respell(" ".join(re.sub(r"[¡!]", " ", re.sub(r"\?", " . ", fold(text))).replace("¿", " ").split()))
        clauses = clause_intents(marked, attribute_keys)
        distinct = list(dict.fromkeys(intent for _, intent in clauses))
        if len(distinct) >= 2:
            return Decision(
                "orchestrator", "rules", 0.9, intents=tuple(i for _, i in clauses), clauses=tuple(c for c, _ in clauses)
            )
        if distinct:
            return Decision(INTENT_ROUTE.get(distinct[0], distinct[0]), "rules", 0.9)  # type: ignore[arg-type]
        if sku_hit:
            return Decision("products", "rules", 0.95)
        rest = greeting().sub(" ", folded).strip(" ,.")
        # "hola" is small talk; "buenas, necesito unos tenis para trotar" is a request that starts politely
        if (greeting().search(folded) and len(rest.split()) < 3) or SMALL_TALK.search(folded):
            return Decision("conversation", "rules", 0.9)
        if FOLLOW_UP.search(INTERJECTION.sub("", folded)):  # "vaya, ¿y en blanco?" is "¿y en blanco?"
            if not previous:  # "el segundo" with nothing shown yet: the conversation explains
                return Decision("conversation", "rules", 0.8)
            route = previous[0] if previous[0] not in ("conversation", "orchestrator") else "products"
            return Decision(route, "rules", 0.8)
        if previous and FOLLOW_UP_THING.search(INTERJECTION.sub("", folded)):
            route = previous[0] if previous[0] in ("products", "prices", "inventory") else "products"
            return Decision(route, "rules", 0.75)
        return None

    async def decide(
        self,
        text: str,
        *,
        vector: np.ndarray | Callable[[], np.ndarray | None] | None = None,
        previous: list[Route] | None = None,
        sku_hit: bool = False,
        catalogue_match: bool | Callable[[], bool] = False,
        attribute_keys: frozenset[str] = frozenset(),
    ) -> Decision:
        """Route a message; `vector` and `catalogue_match` may be callables, evaluated only if the rules abstain."""
        matched: bool | None = None

        def matches() -> bool:
            nonlocal matched
            if matched is None:
                matched = catalogue_match() if callable(catalogue_match) else catalogue_match
            return matched

        decision = self.rules(text, previous, sku_hit, attribute_keys, matches)
        if decision is not None:
            return decision
        route, score = (None, 0.0)
        if callable(vector):
            vector = vector()
        if vector is not None:
            route, score = self.embedding_vote(vector)
        if route == "orders" and not _orders_said(text):
            route = None  # "cafeteras" near "añade la cafetera": a kind named, nothing bought
        if route is not None and route != "orchestrator":
            return Decision(route, "embedding", score)
        if self.llm is not None and not llm_declined():
            choice = await self._ask_llm(text)
            if choice is not None:
                return choice
        # Nothing spoke: if the words match the catalogue it is a product question, else small talk.
        return Decision("products" if matches() else "conversation", "default", score)

    async def _ask_llm(self, text: str) -> Decision | None:
        try:
            structured = self.llm.with_structured_output(RouteChoice)
            # The turn's retry policy, LLM budget and usage tally (agent.llm_retry), like the reply's calls.
            choice = await invoke_llm(
                structured,
                [
                    ("system", "Clasifica el mensaje de un cliente de una tienda online en una ruta."),
                    ("human", text),
                ],
            )
            if isinstance(choice, dict):
                choice = RouteChoice.model_validate(choice)
            return Decision(choice.route, "llm", 0.7, intents=tuple(choice.intents))
        except Exception:  # an unreachable or confused LLM must not stop the turn
            log.warning("LLM routing failed; using the default route", exc_info=True)
            return None
