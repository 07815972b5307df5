"""Reading a purchase said in natural words: "pues la negra, y dos paquetes de café molido. ¿Cuánto sale?".

A buying message is split into the things wanted, each with its count ("dos mandos", "3 botes de pelotas", "el de
medio litro, 2"), with the verbs, the cart words, the people it is for ("para mi hermano") and the side remarks
(", que él sí tiene PS5") taken out. Whether it also asks for the total or to place the order is read apart.
Which product each thing is, is decided by the orders subgraph (references first, then the catalogue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from agent.language import NUMBER_WORDS
from agent.lexicon import container_pattern, lexicon, phrases, remarks

#: Verbs (with their pronouns) that say "I buy it", as customers write them.
BUY_VERBS = (  # noqa: SIM905 (a word list reads better as text)
    "anade anademe anadelo anadela anadelos anadelas anademe anadir anadime anada anadan agrega agregame agregalo "
    "agregala agregalos agregalas agregue agreguen agregueme agreguenme agregar mete meteme metelo metela metelos "
    "metelas meter pon ponme ponlo ponla ponlos ponlas ponmelo ponmela ponmelos poner pongame ponga ponganme poneme "
    "ponelo ponela ponelos ponelas ponemelo ponemela ponemelos ponemelas sumalo sumala sumalos sumalas echa "
    "echame echalo echala sumale sumame suma incluye incluyeme incluir apunta apuntame apuntalo reserva reservame "
    "aparta apartame guarda guardame pasa pasame pasamelo pasamela paseme pasenme manda mandame mandeme mandamelo "
    "mandenme regalame regaleme regalenme dame damelo damela dadme deme demelo denme traeme traigame vendeme "
    "vendame llevo compro quiero quisiera prefiero elijo necesito completa completame completalo"
).split()
_BUY = (
    r"(?:(?:me|te|nos) (?:lo|la|los|las) (?:llevo|quedo)|me (?:llevo|quedo con|quedo|compro)|"
    + "|".join(BUY_VERBS)
    + ")"
)
_NOT_WANTED = re.compile(
    r"\b(?:" + _BUY + r"|(?:al|a mi|a la|en el|en mi|en la) (?:carrito|cesta|carro|pedido)|carrito|cesta|"
    r"de todas formas|de todos modos|igual|dime|decime|digame|me gustan?|me encantan?|me convencen?|"
    r"me quedo con|me decido por|voy a por|voy con|entonces)\b"
)
# "si compro el soporte, ¿me la instaláis?" is not a purchase, nor "se pasa un poco" (of the budget)
HAS_BUY = re.compile(r"(?<!\bsi )(?<!\bse )\b" + _BUY + r"\b")
_PEOPLE = (
    r"(?:mi|mis|tu|su|el|la|un|una) (?:hermano|hermana|hermanos|madre|padre|mama|papa|novia|novio|hijo|hija|hijos|"
    r"amigo|amiga|amigos|mujer|marido|esposa|esposo|abuela|abuelo|sobrino|sobrina|primo|prima|jefe|jefa|familia|"
    r"casa|oficina|cumple|cumpleanos|regalo|viaje|nieto|nieta|pareja|suegra|suegro|companero|companera|cunado|cunada|"
    r"pueblo|finde|fiesta|cena|playa|campo|piso|trabajo|cole|colegio|excursion|barbacoa|merienda)"
)
_ASIDE = re.compile(r"\bpara " + _PEOPLE + r"\b.*$| (?:que|porque|ya que|asi) .*$|\bpa(?:ra)? (?:regalo|regalar)\b.*$")
_REMARK = re.compile(r",\s*(?:que|porque|ya que|asi que)\b.*$")  # ", que él sí tiene PS5": a remark, to the end
_SPLIT = re.compile(
    r"(?<!\d),|,(?!\d)|;|\by\b|\be\b(?= [a-z])|\bmas\b(?! (?:barat|car|grande|pequen))|\bjunto con\b|\baparte\b|"
    r"\bcon (?=(?:el|la|los|las|un|una|unos|unas|dos|tres|cuatro|cinco|seis)\b)"
)


@lru_cache(maxsize=1)
def _container() -> re.Pattern[str]:
    """A container at the start of a thing wanted: "botellas grandes de " (data/lexicon/attributes.json)."""
    return re.compile(rf"^{container_pattern()}\s+")


_COUNT = re.compile(
    r"^(?:(?:el|la|los|las) )?(un par|par|\d{1,2}|una|uno|un|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|"
    r"doce|quince|veinte|treinta|cuarenta|cincuenta)\b"
)
_TOTAL = re.compile(
    r"\bcuanto (?:es|seria|sale|salen|queda|quedaria|me sale|me queda|suma|sumaria|va|serian|son|cuesta|cuestan|vale)\b|"
    r"\b(?:el|del|en) total\b|\btotal\b|\bcuanto (?:llevo|debo|pago)\b"
)
# "¿cuánto es en total?", "¿cuánto llevo en total?", "¿y el total?": the cart's total (the router and orders read it)
CART_TOTAL = (
    r"\bcuanto (?:es|seria|sale|salen|me sale|queda|me queda|quedaria|suma|sumaria|va|llevo|debo|pago)"
    r"(?: en| el| ahora)? (?:todo|total|en total)\b|\b(?:el|en) total$"
)


def _checkout() -> re.Pattern[str]:
    """Asking to place the order ("tramita el pedido", "cerrá la compra"): data/lexicon/checkout.json."""
    table = lexicon("checkout")
    verbs = "|".join(re.escape(v) for v in sorted(table.get("verbs", []), key=len, reverse=True))
    objects = "|".join(re.escape(o) for o in table.get("objects", []))
    phrases = "|".join(re.escape(p) for p in sorted(table.get("phrases", []), key=len, reverse=True))
    # "si me arrepiento después de hacer el pedido…" names the order, it does not place it
    return re.compile(
        rf"(?<!\bde )(?<!\bal )(?<!\bsi )(?<!\btras )\b(?:{verbs})(?:lo|la)? (?:tu |vos |usted )?"
        rf"(?:el |mi |la |ya el |ya la )?(?:{objects})\b" + (rf"|\b(?:{phrases})\b" if phrases else "")
    )


CHECKOUT = _checkout()  # the one definition: orders and the router read it too
# Once a turn is about the cart, shorter words also check out ("pagar", "cómpralo ya"); outside it "¿cómo puedo
# pagar?" is a policy question, so these never route a message to orders.
CHECKOUT_IN_CART = re.compile(
    CHECKOUT.pattern
    + r"|\bquiero pedir(?:lo)?$|(?<!\w)/pedido\b|\bcompra(?:r)? ya\b|"
    + phrases(list(lexicon("checkout").get("in_cart", []))).pattern
)


@dataclass
class Wanted:
    """One thing a purchase asks for."""

    words: str  # folded, what names the product ("", "la negra", "paquete cafe molido")
    count: int | None  # None when the customer did not say how many
    container: str = ""  # "botellas", "frascos grandes": the package said, which may tell versions apart


def count_of(word: str) -> int | None:
    """How many units a word asks for ("dos", "3", "un par"), or None when it names no count."""
    if word.isdigit():
        return int(word)
    if word in ("un par", "par"):
        return 2
    return NUMBER_WORDS.get(word)


def _interjections() -> re.Pattern[str]:
    words = lexicon("fillers").get("interjections", [])
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b")


ENCLITIC = re.compile(
    r"\b(?:(?:me|te|nos) (?:lo|la|los|las) (?:llevo|quedo)|(?:anad|agreg|met|pon|ech|pas|mand|regal|d|dem|trae)"
    r"(?:e|a|ad|ame|eme|ale|ele|enme|anme)?(?:lo|la|los|las|melo|mela|melos|melas))\b"
)
_BOTH = re.compile(r"^(?:los|las) (dos|tres|cuatro|cinco|\d)(?: cosas| productos| articulos)?$|^(?:ambos|ambas)$")
_PURPOSE = re.compile(r"\bpa(?:ra)? [a-z]+(?:ar|er|ir)\b.*$")  # "un UNO para jugar en familia"


def wanted(folded: str) -> list[Wanted]:
    """The things a buying message asks for, in order, each with its count."""
    folded = " ".join(remarks().sub(" ", folded).split())  # "quiero 3, una para cada hermana": 3, and a remark
    found = _wanted(folded, choice_too=False)
    if found and all(w.words in ("", "eso") for w in found):
        # "Me gustan las blancas. ¿Cuántas te quedan? Agrégame un par": the choice was said in another sentence
        described = _wanted(folded, choice_too=True)
        if described and any(w.words not in ("", "eso") for w in described):
            count = next((w.count for w in found if w.count), None)
            return [Wanted(w.words, count or w.count) for w in described if w.words not in ("", "eso")]
    choice = _choice_apart(folded)
    first = found[0] if found else None
    if choice and first and (not first.words or _container().match(f"{first.words} de ")):
        # "cogeré la talla 4: ponme 2 paquetes y unos chupetes": the 2 packs are of the size chosen
        found[0] = Wanted(choice, first.count, first.container or first.words)
    return found


def _choice_apart(folded: str) -> str:
    """What a sentence with no buying verb chose ("cogeré la talla 4"), when another sentence buys."""
    for sentence in re.split(r"[?¿!¡:]|\.(?:\s|$)", folded):
        said = _CHOOSING.search(sentence)
        if said and not HAS_BUY.search(sentence):
            return sentence[said.end() :].strip(" ,")
    return ""


_CHOICE_ALONE = re.compile(
    r"^(?:(?:pues|vale|entonces|bueno|ok|listo|dale)[ ,]+)*(?:el|la|los|las) (?:de |del )?[\w ]{1,25}$"
)
_DECIDED = re.compile(
    r"^(?:(?:pues|vale|bueno|ok|listo|dale|venga)[ ,]+)*(?:el|la|los|las) (?:de |del )?[\w ]{1,25}?,? entonces$|"
    r"^(?:(?:pues|vale|bueno|ok|listo|dale|venga)[ ,]+)+(?:el|la|los|las) (?:de |del )?[\w ]{1,25}$"
)


def decided(clause: str) -> bool:
    """A choice said as a decision ("bueno, la negra entonces", "vale, pues el de 16 GB"): the customer takes it."""
    return bool(_DECIDED.match(clause.strip(" ,.")))


def listed_purchase(folded: str) -> bool:
    """Things listed with counts after a decision word, no verb: "vale, pues las 3 en negro y dos de café".

    A count alone is not enough ("dos paquetes de café" may be a search); a question never is.
    """
    head = folded.strip(" ,.")
    if not re.match(r"^(?:vale|pues|bueno|listo|dale|venga|ok|okey|perfecto|entonces)\b", head):
        return False
    things = wanted(head)
    # "dale, 2 frascos grandes de durazno": one thing counted in its packages is enough
    packed = len(things) == 1 and things[0].count is not None and bool(things[0].container)
    return _CHOICE.match(head) is not None and (len(things) >= 2 or packed) and any(w.count for w in things)


_CHOOSING = re.compile(
    r"\b(?:me gustan?|me encantan?|prefiero|me quedo con|me decido por|mejor|cogere|cojo|escojo|elijo|voy a coger|"
    r"me voy a llevar|agarro)\b"
)


def _wanted(folded: str, *, choice_too: bool) -> list[Wanted]:
    # Sentences: a question ("¿cuántas te quedan?") or a remark is not part of the purchase, unless nothing else is.
    folded = re.sub(r"\b(complet\w*) con\b", r"\1", folded)  # "completá con 5 del de medio litro": 5 of those
    sentences = [s.strip() for s in re.split(r"[?¿!¡:]|\.(?:\s|$)", folded) if s.strip()]
    if choice_too:
        asked = {m.group(0).strip(" ¿?") for m in re.finditer(r"[^?¿.!¡]*\?", folded)}
        chosen = [s for s in sentences if _CHOOSING.search(s) and s not in asked]
        sentences = chosen or sentences
        buying = sentences
    else:
        chose = [s for s in sentences if HAS_BUY.search(s) and not re.search(r"\bno\b", s)]
        # "Pues el de 16 GB. Y añade el ratón más barato": a choice said on its own goes with the purchase
        buying = [s for s in sentences if s in chose or (chose and _CHOICE_ALONE.match(s))] or sentences
    # "añádelo y una Nivea": "eso" (the product in focus) and a Nivea
    buying = [ENCLITIC.sub(" , eso , ", _REMARK.sub("", s)) for s in buying]
    parts = [re.split(r"\bcuant[oa]s?\b|\bque (?:precio|valor)\b", s)[0] for s in buying if not CHECKOUT.match(s)]
    parts = [CHECKOUT.split(p)[0] for p in parts]
    body = " , ".join(p for p in parts if p.strip() and not re.fullmatch(r"\W*(?:el |del |en )?total\W*", p))
    body = _TOTAL.sub(" ", body)
    body = _interjections().sub(" ", _NOT_WANTED.sub(" ", _CHOOSING.sub(" ", body)))
    out: list[Wanted] = []
    for raw in _SPLIT.split(body):
        part = _PURPOSE.sub("", _ASIDE.sub("", " ".join(raw.split()))).strip(" ,")
        if re.search(r"\bno\b", part):
            continue  # "la manguera no, que ya tengo una"
        if _BOTH.match(part):
            out.append(Wanted(part, None))  # "las dos", "los 3": which products, not how many
            continue
        count = None
        match = _COUNT.match(part)
        if match:
            count = count_of(match.group(1))
            rest = part[match.end() :].strip()
            part = _container().sub("", rest)
            container = _container().match(rest)
            package = re.sub(r"\s+(?:de|del)$", "", container.group(0).strip()) if container else ""
            if container and re.fullmatch(r"(?:de )?(?:esos|esas|estos|estas|ese|esa|los|las)?", part):
                part = container.group(0).split()[0]  # "dos botes de esos": the cans among those shown
        part = re.sub(r"^(?:de|del|de la|de los|de las)\s+", "", part).strip()
        if count in (2,) and match and match.group(1) in ("un par", "par") and not part:
            count = 1  # "agrégame un par" (of the shoes in focus): one pair
        if not part and count is None:
            continue
        if part == "eso" and out and out[-1].words:
            continue  # "me quedo con la Spigen, añádela": "la" is the Spigen just named
        if not part and out and (out[-1].count is None or not out[-1].words):
            out[-1].count = count  # "el brick de medio litro, 2": the count of the thing just named
            continue
        if _container().match(f"{part} de ") and out and count is not None and out[-1].count is None:
            out[-1].count = count  # "la plana, una bolsa"
            continue
        out.append(Wanted(part, count, package if match else ""))
    return out


def asks_total(folded: str) -> bool:
    """Whether the message also asks how much it all comes to."""
    return bool(_TOTAL.search(folded))


def then_checkout(folded: str) -> bool:
    """Whether the message also asks to place the order ("añade eso y tramita el pedido")."""
    return bool(CHECKOUT.search(folded))


_TOTAL_WORDS = re.compile(r"\b(?:dime|decime|digame|dame|todo|toda|ahora|entonces|pues|y|el|en|me|al|final|seria|es)\b")


def total_only(clause: str) -> bool:
    """A clause that only asks for the total ("¿cuánto es todo?", "dime el total", "¿cuánto me queda?")."""
    return bool(_TOTAL.search(clause)) and not _TOTAL_WORDS.sub(" ", _TOTAL.sub(" ", clause)).strip()


_TOTAL_QUESTION = re.compile(
    r"\bcuanto (?:es|seria|sale|salen|queda|quedaria|me sale|me queda|da|serian|son|suma|sumaria)\b(?: (?:todo|en total|el total|eso))?"
)
_CHOICE = re.compile(
    r"^(?:(?:vale|ok|okey|dale|listo|bueno|pues|entonces|orale|venga|perfecto|genial|ya|si|bien|y)[ ,.]+)*"
    r"(?:\d+|dos|tres|cuatro|cinco|seis|un|una|unos|unas|el|la|los|las)\b"
)


def implicit_purchase(folded: str) -> bool:
    """Things chosen and the total asked, without a buying verb: "vale, el cortacésped y la pistola. ¿Cuánto es?".

    A choice (a count or an article after "vale", "pues", "listo"...) followed by "¿cuánto es/sale/sería (todo)?"
    is a purchase; "¿cuánto cuesta el iPhone?" (a price) and "¿cuánto cuesta el envío?" are not.
    """
    head = re.split(r"[?¿]|\bcuanto\b", folded)[0].strip(" ,.")
    if not _TOTAL_QUESTION.search(folded) or not head or re.search(r"\bprecio|\bcuest|\bvale[n]? (?:el|la)\b", folded):
        return False
    things = wanted(head)
    counted = any(w.count for w in things) or bool(_COUNT.match(_interjections().sub(" ", head).strip(" ,")))
    # "y unas calcetas también, ¿cuánto sería todo?": one more thing on top of what is in the cart
    more = bool(re.search(r"\btambien\b|^y ", head)) and bool(re.search(r"\btodo\b", folded))
    return bool(_CHOICE.match(head)) and (len(things) >= 2 or counted or more)
