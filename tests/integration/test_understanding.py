"""Understanding a turn in its context: the shop's policies, features of the product in focus, references by
property, purchases said in natural words, and the shop's vocabulary files.

The parts are tested on their own (pure functions) and through the agent in-process on the sample catalogue;
`tests/test_evals_smoke.py` plays held-out dialogues on both catalogues and asks Mercadona's shared names.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.buying import asks_total, then_checkout, wanted
from agent.features import feature_of, magnitude
from agent.lexicon import catalogue_words, respell
from agent.orders import action_of
from agent.planner import plan_text
from agent.references import pick, read
from data import lexicon, orders
from data.policies import SAMPLE_POLICIES, PoliciesError
from data.policies import read as read_policies
from settings import ROOT
from tests.conftest import cart_of, give_details
from tools.policies import PolicyBook

# --------------------------------------------------------------------------- the policies document


def test_policies_are_sections_of_passages_and_a_list_stays_with_its_introduction() -> None:
    sections = {s.title: s for s in read_policies(SAMPLE_POLICIES)}
    assert "Formas de pago" in sections and "Envíos y plazos de entrega" in sections
    paying = sections["Formas de pago"].passages
    assert paying[0].startswith("Aceptamos: tarjeta") and "Bizum" in paying[0] and "PayPal" in paying[0]
    assert all("**" not in p for s in sections.values() for p in s.passages)  # Markdown is read as text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Solo texto, sin secciones.", "no tiene secciones"),
        ("## Envíos\n\n## Pagos\nCon tarjeta.", "Secciones sin texto"),
        ("## Pagos\nTarjeta.\n## pagos\nBizum.", "Secciones repetidas"),
    ],
)
def test_a_policies_document_that_cannot_be_used_is_refused_in_spanish(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "p.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PoliciesError, match=problem):
        read_policies(path)


@pytest.fixture(scope="module")
def book(embedder: Any) -> PolicyBook:
    return PolicyBook(SAMPLE_POLICIES, embedder)


@pytest.mark.parametrize(
    ("question", "section", "quoted"),
    [
        ("¿cuánto cuesta el envío a Canarias?", "Envíos y plazos de entrega", "12,95 €"),
        ("¿a qué hora abrís?", "Horario y tienda física", "10:00 a 21:00"),
        ("¿Cómo puedo pagar?", "Formas de pago", "Bizum"),
        ("si no me queda bien, ¿la puedo devolver?", "Devoluciones y cambios", "30 días"),
        ("teléfono de contacto", "Contacto", "910 123 456"),
        ("quiero cancelar mi pedido", "Cancelar o modificar un pedido", "no haya salido"),
    ],
)
def test_a_policy_question_is_answered_from_its_section(
    book: PolicyBook, question: str, section: str, quoted: str
) -> None:
    found = book.answer(question)
    assert found is not None and found.covered, found
    assert found.section == section
    assert any(quoted in p for p in found.passages), found.passages


@pytest.mark.parametrize("question", ["¿tenéis parking?", "¿aceptáis criptomonedas?", "¿hay descuento de estudiante?"])
def test_a_question_the_document_does_not_cover_is_not_passed_off_as_answered(book: PolicyBook, question: str) -> None:
    found = book.answer(question)
    assert found is not None and not found.covered


def test_a_new_version_of_the_document_is_used_without_a_restart(tmp_path: Path, embedder: Any) -> None:
    path = tmp_path / "policies.md"
    path.write_text("## Envíos\nEnviamos en 24 horas a toda España.\n", encoding="utf-8")
    book = PolicyBook(path, embedder)
    first = book.answer("¿cuánto tarda el envío?")
    assert first is not None and "24 horas" in first.passages[0]
    time.sleep(0.01)
    path.write_text("## Envíos\nEnviamos en 72 horas a toda España.\n\n## Pagos\nSolo Bizum.\n", encoding="utf-8")
    second = book.answer("¿cuánto tarda el envío?")
    assert second is not None and "72 horas" in second.passages[0]
    path.write_text("roto", encoding="utf-8")  # a broken edit keeps the last good version answering
    third = book.answer("¿cuánto tarda el envío?")
    assert third is not None and "72 horas" in third.passages[0]


def test_the_cli_installs_a_checked_document_and_refuses_a_broken_one(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "WARNING"}
    good = subprocess.run(
        [sys.executable, "-m", "manage", "policies", str(SAMPLE_POLICIES)], cwd=ROOT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "var" / "policies.md").read_bytes() == SAMPLE_POLICIES.read_bytes()
    assert "Formas de pago" in good.stdout
    broken = tmp_path / "broken.md"
    broken.write_text("sin secciones", encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "manage", "policies", str(broken)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "no tiene secciones" in bad.stderr
    assert (tmp_path / "var" / "policies.md").read_bytes() == SAMPLE_POLICIES.read_bytes()  # unchanged


# --------------------------------------------------------------------------- vocabulary files


def test_the_shops_vocabulary_is_added_to_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "synonyms.json").write_text(
        json.dumps({"words": {"Choclo": ["elote"], "guagua": ["autobus"]}}), encoding="utf-8"
    )
    merged = lexicon.load("synonyms", tmp_path)
    assert merged["words"]["choclo"] == ["elote"]  # the shop's entry wins, folded
    assert merged["words"]["guagua"] == ["autobus"]
    assert merged["words"]["palta"] == ["aguacate"]  # the shipped entries stay
    (tmp_path / "kinds.json").write_text("{roto", encoding="utf-8")
    with pytest.raises(lexicon.LexiconError, match=r"kinds\.json"):
        lexicon.load("kinds", tmp_path)


def test_regional_words_become_the_catalogues_only_when_the_catalogue_uses_them() -> None:
    catalogue = {"aguacate", "zumo", "melocoton", "banana", "fresa", "freson"}
    known = catalogue.__contains__
    assert catalogue_words("palta madura", known) == "aguacate madura"
    assert catalogue_words("jugo de durazno", known) == "zumo de melocoton"
    assert catalogue_words("banana", known) == "banana"  # the shop sells "Banana": kept
    assert catalogue_words("frutillas", known) == "fresa freson"
    assert catalogue_words("heladera", known) == "heladera"  # no fridge sold: the customer's word stays


def test_a_phrase_or_a_plural_is_the_customers_word_only_when_a_name_says_it() -> None:
    stems_known = {"crema", "de", "leche", "nata", "calcetines", "medio", "medias"}.__contains__  # stemmed loosely
    names = {"calcetines", "medio", "crema", "de", "leche", "y", "avellanas", "nata"}  # words of names, as written

    def used(word: str) -> bool:
        return word in names or word.rstrip("s") in names

    def whole_name(phrase: str) -> bool:
        return phrase == "crema de leche y avellanas"

    # "Crema de leche y avellanas" says the phrase but is not called it: the customer means cream ("nata")
    assert catalogue_words("crema de leche para batir", stems_known, whole_name, used) == "nata para batir"
    # "medias" stems like "medio" (a colour "azul medio"), but no name says "medias": socks
    assert catalogue_words("medias para correr", stems_known, whole_name, used) == "calcetines para correr"


def test_chat_spellings_are_read_as_words() -> None:
    assert respell("kiero algo q no pase de 5 euros") == "quiero algo que no pase de 5 euros"
    assert respell("ay stok del iphone") == "hay stock del iphone"


# --------------------------------------------------------------------------- features, references, purchases


@pytest.mark.parametrize(
    ("text", "keys", "direction"),
    [
        ("de cuantas pulgadas es", ["pantalla"], None),
        ("cual de esos gasta menos", ["potencia"], "less"),
        ("cual tiene mas almacenamiento", ["capacidad", "almacenamiento"], "more"),
        ("cual es mas ligero", ["peso"], "less"),
        ("viene con cargador", ["incluye"], None),
        ("y se le puede meter una tarjeta microsd", ["compatibilidad"], None),
        ("admite capsulas nespresso", ["compatibilidad"], None),
    ],
)
def test_feature_questions_name_the_attributes_asked(text: str, keys: list[str], direction: str | None) -> None:
    found = feature_of(text)
    assert found is not None and set(keys) <= set(found.keys) and found.direction == direction
    if "cargador" in text:
        assert "cargador" in found.words  # what comes with it is the question, not a product to look for


@pytest.mark.parametrize(
    "text", ["cuanto cuesta el de 256 gb", "teneis el iphone de 256 gb", "busco un portatil con 16 gb de ram", "hola"]
)
def test_price_searches_and_greetings_are_not_feature_questions(text: str) -> None:
    assert feature_of(text) is None


def test_measures_compare_across_units() -> None:
    values = magnitude("1 TB"), magnitude("512 GB SSD"), magnitude("1,5 kg"), magnitude("900 g")
    assert values[0] is not None and values[1] is not None and values[0] > values[1]
    assert values[2] is not None and values[3] is not None and values[2] > values[3]


OILS = [
    {"id": 1, "name": "Aceite de oliva 0,4º Hacendado — Garrafa, 5 L", "price": "24.00"},
    {"id": 2, "name": "Aceite de oliva 0,4º Hacendado — Botella, 1 L", "price": "5.00"},
    {"id": 3, "name": "Aceite de girasol Hacendado — Botella, 1 L", "price": "1.80"},
]
PHONES = [
    {"id": 10, "name": "Apple iPhone 15 Pro 256 GB Titanio natural", "price": "1349.00"},
    {"id": 11, "name": "Apple iPhone 15 128 GB Negro", "price": "959.00"},
    {"id": 12, "name": "Apple iPhone 15 128 GB Blanco", "price": "959.00"},
]


@pytest.mark.parametrize(
    ("phrase", "products", "ids"),
    [
        ("la garrafa de 5 l", OILS, [1]),
        ("la de oliva de litro", OILS, [2]),
        ("el de medio litro", OILS, []),  # none is 500 ml
        ("la barata", OILS, [3]),
        ("los de oliva", OILS, [1, 2]),
        ("el blanco", PHONES, [12]),
        ("las negras", PHONES, [11]),
        ("el normal en blanco", PHONES, [12]),
        ("el de 128", PHONES, []),  # two fit: not a clear reference
    ],
)
def test_references_by_property(phrase: str, products: list[Any], ids: list[int]) -> None:
    assert [p["id"] for p in pick(read(phrase), products)] == ids


@pytest.mark.parametrize(
    ("text", "things"),
    [
        ("ponme 2 botellas termicas laken y 3 botes de pelotas de padel, cuanto es?",
         [("botellas termicas laken", 2), ("pelotas de padel", 3)]),
        ("pues me llevo la switch y dos mandos dualsense para mi hermano, que el si tiene ps5. cuanto sale todo?",
         [("la switch", None), ("mandos dualsense", 2)]),
        ("vale, anadelo y tambien una nivea de lata", [("eso", None), ("nivea de lata", 1)]),
        ("me quedo con la spigen, anadela", [("la spigen", None)]),
        ("el brick de medio litro, 2. cuanto es todo?", [("el brick de medio litro", 2)]),
        ("uf, no necesito tanto. ponme dos del barato", [("barato", 2)]),
        ("agreguenme las dos", [("las dos", None)]),
    ],
)  # fmt: skip
def test_a_purchase_is_split_into_things_with_their_counts(text: str, things: list[tuple[str, int | None]]) -> None:
    assert [(w.words, w.count) for w in wanted(text)] == things


def test_a_purchase_may_ask_for_the_total_or_the_order_too() -> None:
    assert asks_total("ponme dos y dime el total") and asks_total("cuanto sale todo")
    assert then_checkout("anade eso y tramita el pedido") and then_checkout("haz el pedido")
    assert not then_checkout("anade dos pilas")


# --------------------------------------------------------------------------- through the agent


def tid(request: pytest.FixtureRequest, suffix: str = "") -> str:
    return f"u-{request.node.name}-{suffix}"[:120]


async def test_policy_questions_quote_the_document_and_never_the_cart(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("añade 2 pilas Duracell AA al carrito", thread_id=thread)
    paying = await chat.turn("¿Cómo puedo pagar?", thread_id=thread)
    assert paying.route == "conversation" and "Bizum" in paying.reply and "«Formas de pago»" in paying.reply
    assert "Tu carrito" not in paying.reply
    shipping = await chat.turn("¿y cuánto cuesta el envío a Canarias?", thread_id=thread)
    assert "12,95 €" in shipping.reply
    unknown = await chat.turn("¿me lo envolvéis para regalo?", thread_id=thread)
    assert "910 123 456" in unknown.reply and "hola@tiendaejemplo.es" in unknown.reply


async def test_feature_questions_about_the_product_in_focus(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿Cuánto cuesta el iPhone 15 de 128 GB en negro?", thread_id=thread)
    inches = await chat.turn("¿de cuántas pulgadas es?", thread_id=thread)
    assert "6,1 pulgadas" in inches.reply and "Apple iPhone 15 128 GB Negro" in inches.reply
    charger = await chat.turn("¿viene con cargador?", thread_id=thread)
    assert "Apple iPhone 15" in charger.reply and "Cargador Apple" not in charger.reply
    weight = await chat.turn("¿y cuánto pesa?", thread_id=thread)
    assert "No tengo ese dato" in weight.reply  # the sheet does not say: said plainly, never invented
    card = await chat.turn("¿se le puede meter una tarjeta microSD?", thread_id=thread)
    assert "No tengo ese dato" in card.reply and "SanDisk" not in card.reply, card.reply  # a question, not a search


async def test_comparing_a_feature_across_the_list_and_the_whole_kind(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    largest = await chat.turn("¿Cuál es la tele más grande que tenéis?", thread_id=thread)
    assert largest.reply.index("Televisor LG OLED evo 65") < largest.reply.index("43")
    cheap = await chat.turn("¿y cuánto cuesta la más barata de esas?", thread_id=thread)
    assert "169,99 €" in cheap.reply  # the compared TVs are the ones in play
    await chat.turn("¿qué portátiles tenéis?", thread_id=thread)
    storage = await chat.turn("¿cuál tiene más almacenamiento?", thread_id=thread)
    assert "512 GB SSD" in storage.reply and "256 GB SSD" in storage.reply


async def test_a_purchase_in_natural_words_with_its_total(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿tenéis zapatillas de running Nike?", thread_id=thread)
    first = await chat.turn("me gustan las blancas, agrégame un par", thread_id=thread)
    assert await cart_of(chat, thread) == {"DEP-NIK-PEG40-42-BLA": 1} and "139,99 €" in first.reply
    both = await chat.turn(
        "y ponme 2 botellas térmicas Laken y 3 botes de pelotas de pádel, ¿cuánto es?", thread_id=thread
    )
    assert await cart_of(chat, thread) == {"DEP-NIK-PEG40-42-BLA": 1, "DEP-LAK-TERM-750": 2, "DEP-HEA-PADELPRO-3U": 3}
    total = Decimal("139.99") + 2 * Decimal("24.90") + 3 * Decimal("6.49")
    assert f"{total:.2f}".replace(".", ",") + " €" in both.reply


async def test_more_than_the_stock_is_offered_what_is_left(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    refused = await chat.turn("méteme 5 iPhone 15 de 256 GB blancos en el carrito", thread_id=thread)
    assert "solo quedan 2" in refused.reply and "¿Te pongo las 2 que quedan?" in refused.reply
    assert await cart_of(chat, thread) == {}
    taken = await chat.turn("sí", thread_id=thread)
    assert taken.route == "orders" and await cart_of(chat, thread) == {"TEL-APL-IP15-256-BLA": 2}
    again = await chat.turn("sí", thread_id=thread)  # the offer was used: a second yes is the checkout it proposes
    assert again.route == "orders" and "¿A nombre de quién hago el pedido?" in again.reply  # the checkout starts
    again = await give_details(chat, thread)
    assert again.awaiting_confirmation and await cart_of(chat, thread) == {"TEL-APL-IP15-256-BLA": 2}


async def test_add_and_place_the_order_in_one_message(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿Cuánto cuesta el Kindle Paperwhite?", thread_id=thread)
    asked = await chat.turn("vale, añádelo y tramita el pedido, que pago con PayPal", thread_id=thread)
    assert await cart_of(chat, thread) == {"ELE-AMZ-KPW-16-NEG": 1}
    assert "¿A nombre de quién hago el pedido?" in asked.reply  # the checkout starts
    asked = await give_details(chat, thread)  # pickup at the Madrid shop: free, the total stays the cart's
    assert asked.awaiting_confirmation and "169,99 €" in asked.reply
    placed = await chat.turn("sí, adelante", thread_id=thread)
    assert "Pedido confirmado" in placed.reply and await cart_of(chat, thread) == {}


async def test_a_conditional_purchase_is_a_question(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿Cuánto cuesta la tele LG de 55?", thread_id=thread)
    answer = await chat.turn("¿Me la instaláis en la pared si compro también el soporte?", thread_id=thread)
    assert await cart_of(chat, thread) == {} and "910 123 456" in answer.reply


async def test_the_plain_model_and_a_question_that_leans_on_the_clause_before(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿tenéis el iPhone 15 Pro Max?", thread_id=thread)
    plain = await chat.turn("Uf, se me va. ¿Y el normal cuánto cuesta? ¿Lo hay en blanco?", thread_id=thread)
    prices, white = plain.reply.split("\n\n")
    assert "959,00 €" in prices and "Pro" not in prices  # the iPhone 15's versions, not the Pro again
    assert "Blanco" in white and "Negro" not in white and "Pro" not in white  # those versions, in white
    told = await chat.turn("¿Y qué diferencia tiene con el Pro aparte del precio?", thread_id=thread)
    assert "A16 Bionic" in told.reply and "A17 Pro" in told.reply and "Apple iPhone 15 128 GB Blanco" in told.reply


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("¿Tenéis bombones? Son para mi suegra", "bombones"),
        ("y alguno sin sal? mi viejo es hipertenso", "sin sal hipertenso"),
        ("una funda para mi móvil", "funda movil"),  # a thing after a possessive is still a product
    ],
)
def test_the_people_a_customer_mentions_are_not_searched(text: str, query: str) -> None:
    from agent.planner import plan

    assert plan(text).query == query


async def test_a_budget_a_qualifier_or_a_superlative_alone_is_about_the_last_list(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿qué auriculares tenéis?", thread_id=thread)
    budget = await chat.turn("¿algo que no pase de 60 €?", thread_id=thread)
    assert "Auriculares JBL Tune 520BT Negro: 49,99 €" in budget.reply and "329,00 €" not in budget.reply
    quiet = await chat.turn("¿y alguno con cancelación de ruido?", thread_id=thread)
    assert "Sony WH-1000XM5" in quiet.reply and "JBL" not in quiet.reply  # the JBL's sheet says nothing of it
    cheapest = await chat.turn("¿cuál es el más barato?", thread_id=thread)
    assert "279,00 €" in cheapest.reply and "49,99" not in cheapest.reply  # of those with noise cancelling


async def test_a_name_that_says_what_was_asked_answers_it(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿cuánto cuesta el taladro Bosch Professional GSR 18V-55?", thread_id=thread)
    batteries = await chat.turn("¿trae baterías?", thread_id=thread)
    assert batteries.reply.startswith("Sí, lo dice su nombre") and "2 baterías" in batteries.reply


def test_a_list_of_one_is_not_called_options() -> None:
    from agent.composer import product_list

    one = [{"id": 1, "name": "Auriculares JBL Tune 520BT Negro", "price": "49.99", "stock": 54}]
    intros = {product_list("auriculares", one, seed=str(seed)).splitlines()[0] for seed in range(40)}
    assert any("una opción" in i for i in intros) and not any("1 opciones" in i for i in intros)


async def test_a_purchase_said_around_a_choice_a_purpose_or_a_colon(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿tenéis zapatillas de running Nike?", thread_id=thread)
    asked = await chat.turn("Me gustan las blancas. ¿Cuántas te quedan? agrégame un par", thread_id=thread)
    assert "5 unidades" in asked.reply and await cart_of(chat, thread) == {"DEP-NIK-PEG40-42-BLA": 1}
    more = await chat.turn("y unas calcetas para correr también, ¿cuánto sería todo?", thread_id=thread)
    assert await cart_of(chat, thread) == {"DEP-NIK-PEG40-42-BLA": 1, "DEP-NIK-SPARK-CAL-M": 1}  # running socks
    assert "156,98 €" in more.reply
    baby = tid(request, "baby")
    await chat.turn("¿cuánto cuestan los pañales Dodot Sensitive?", thread_id=baby)
    said = await chat.turn("Vale, cogeré la talla 4: ponme 2 paquetes y unos chupetes de 0 a 6 meses", thread_id=baby)
    assert await cart_of(chat, baby) == {"BEB-DOD-SENS-T4-76": 2, "BEB-SUA-CHUP-06-2U": 1}, said.reply
    await chat.turn("olvídate de los chupetes: quita los chupetes y completa con 1 de la talla 3", thread_id=baby)
    assert await cart_of(chat, baby) == {"BEB-DOD-SENS-T4-76": 2, "BEB-DOD-SENS-T3-90": 1}


async def test_a_brand_the_shop_does_not_sell_is_said_and_its_kind_offered(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    huggies = await chat.turn("¿tenéis Huggies?", thread_id=tid(request))
    assert "huggies" in huggies.reply.lower() and "Pañales Dodot Sensitive talla 4" in huggies.reply, huggies.reply
    assert "Crema" not in huggies.reply  # only what the kind's words name, not whatever ranks near
    nutella = await chat.turn("¿tenéis Nutella?", thread_id=tid(request, "n"))
    assert "nutella" in nutella.reply.lower() and "€" not in nutella.reply, nutella.reply  # no cocoa spread here


async def test_a_decision_said_with_counts_or_before_a_shop_question_buys(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿me pones 2 cafeteras Dedica rojas?", thread_id=thread)  # the red one is sold out
    await chat.turn("vale, pues las 2 en negro y 3 paquetes de café Lavazza", thread_id=thread)
    assert await cart_of(chat, thread) == {"COC-DEL-DEDICA-NEG": 2, "COC-LAV-QROSSA-250": 3}
    other = tid(request, "policy")
    await chat.turn("¿la cafetera Dedica la tenéis en rojo?", thread_id=other)
    both = await chat.turn("bueno, la negra entonces. ¿Hacéis envíos a Canarias?", thread_id=other)
    assert await cart_of(chat, other) == {"COC-DEL-DEDICA-NEG": 1}
    assert "Canarias" in both.reply and "carrito" in both.reply, both.reply
    searched = tid(request, "search")
    await chat.turn("dos paquetes de café y el descalcificador", thread_id=searched)  # no decision word: a search
    assert await cart_of(chat, searched) == {}


async def test_a_question_about_the_dear_one_in_words_no_name_uses(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿Qué robots aspiradores tenéis?", thread_id=thread)
    mops = await chat.turn("¿Y el caro friega también?", thread_id=thread)
    assert "Roomba" in mops.reply and "Crema" not in mops.reply, mops.reply  # about it, not a search for "friega"
    await chat.turn("pues me llevo el barato", thread_id=thread)
    assert await cart_of(chat, thread) == {"HOG-CEC-CONGA2290": 1}  # the list stayed in play


async def test_the_two_things_are_the_last_found_and_the_one_before(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿tenéis gafas de sol Ray-Ban?", thread_id=thread)
    await chat.turn("y una camiseta blanca de hombre talla M", thread_id=thread)
    await chat.turn("agrega las dos cosas", thread_id=thread)
    assert await cart_of(chat, thread) == {"MOD-RAY-RB2140-NEG": 1, "MOD-LEV-HSM-M-BLA": 1}


def test_a_measure_said_as_a_minimum_and_remarks_about_the_customer() -> None:
    p = plan_text("Quiero una pantalla grande pa la sala, de 55 pulgadas pa arriba. Vivo en Valencia")
    assert p.at_least == "55 pulgadas" and "valencia" not in p.query and "arriba" not in p.query
    assert plan_text("una tele de al menos 50 pulgadas").at_least == "50 pulgadas"
    assert plan_text("el de 55 pulgadas").at_least == ""  # a version, not a minimum


async def test_a_list_from_a_minimum_size(chat: Any, request: pytest.FixtureRequest) -> None:
    tvs = await chat.turn("Quiero una tele de 55 pulgadas pa arriba", thread_id=tid(request))
    assert 'LG OLED evo 55"' in tvs.reply and 'LG OLED evo 65"' in tvs.reply, tvs.reply


async def test_which_of_the_whole_kind_not_of_the_one_in_focus(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿cuánto cuesta el taladro BLACK+DECKER?", thread_id=thread)
    most = await chat.turn("¿Y cuál de los taladros que tenéis tiene más par?", thread_id=thread)
    assert "Makita DHP482RFJ" in most.reply and "62 Nm" in most.reply, most.reply


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("¿qué llevo en el carrito?", "show"),  # "llevo" buys only when there is something to buy
        ("¿qué tengo en la cesta?", "show"),
        ("¿que hay en el carro?", "show"),
        ("me llevo el queso manchego", "add"),
        ("añade leche al carrito", "add"),
        ("vacía el carrito", "clear"),
    ],
)
def test_a_question_about_the_cart_shows_it(text: str, action: str) -> None:
    assert action_of(plan_text(text)) == action


def test_offer_words_are_a_question_not_product_words() -> None:
    offers = plan_text("¿qué quesos tenéis con descuento?")
    assert offers.on_sale and offers.query == "quesos"
    assert plan_text("¿está de oferta?").on_sale and not plan_text("¿está disponible?").on_sale


async def test_what_shipping_costs_is_worked_out_from_the_cart_and_the_rates(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("añade 2 pilas Duracell AA al carrito", thread_id=thread)
    subtotal = sum((p * q for p, q in (await cart_lines(chat, thread))), Decimal("0"))
    missing = await chat.turn("¿cuánto me falta para el envío gratis?", thread_id=thread)
    assert missing.route == "conversation"
    assert money(Decimal("49.00") - subtotal) in missing.reply and "4,95 €" in missing.reply  # Península by default
    islands = await chat.turn("¿y si me lo mandáis a Mallorca, llego al envío gratis?", thread_id=thread)
    assert money(Decimal("99.00") - subtotal) in islands.reply and "Baleares" in islands.reply
    await chat.turn("añade el iPhone 15 de 128 GB negro", thread_id=thread)
    free = await chat.turn("¿con eso ya no pago envío? vivo en Burgos", thread_id=thread)
    assert "gratis" in free.reply and "Península" in free.reply and "te faltan" not in free.reply


async def cart_lines(chat: Any, thread: str) -> list[tuple[Decimal, int]]:
    async with chat.catalog.sessions() as session:
        return [(i.unit_price, i.quantity) for i in (await orders.get_cart(session, thread_id=thread)).items]


def money(amount: Decimal) -> str:
    return f"{amount:.2f}".replace(".", ",") + " €"
