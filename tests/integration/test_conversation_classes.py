"""Classes of natural turns the rules used to misread, each through the whole agent over the sample shop.

Each test is one class (a follow-up, a reference, a purchase said around a remark...), checked on what a customer
sees: the products named, the exact figures and the cart. The sentences are examples of their class.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import cart_of, give_details


def tid(request: pytest.FixtureRequest) -> str:
    return f"k-{request.node.name}"[:120]


def euros(amount: str | Decimal) -> str:
    return f"{Decimal(amount):.2f}".replace(".", ",") + " €"


async def test_two_price_questions_in_one_message_then_the_difference_and_picks_by_position(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    both = await chat.turn("¿Cuánto cuesta el Kindle Paperwhite? ¿Y la funda del Kindle?", thread_id=thread)
    assert euros("169.99") in both.reply and euros("29.99") in both.reply, both.reply
    gap = await chat.turn("¿cuánta diferencia hay entre los dos?", thread_id=thread)
    assert gap.route == "prices" and euros("140.00") in gap.reply
    await chat.turn("ponme 2 del segundo", thread_id=thread)  # the list is cheapest first: the Kindle is second
    await chat.turn("y uno del primero", thread_id=thread)
    assert await cart_of(chat, thread) == {"ELE-AMZ-KPW-16-NEG": 2, "ELE-AMZ-FUN-KPW-AZU": 1}


async def test_a_qualifier_narrows_the_cheapest_of_a_kind(chat: Any, request: pytest.FixtureRequest) -> None:
    cheapest = await chat.turn(
        "¿cuáles son los auriculares con cancelación de ruido más baratos?", thread_id=tid(request)
    )
    assert "AirPods Pro" in cheapest.reply and "JBL" not in cheapest.reply  # the JBL Tune has no noise cancelling


async def test_an_aside_never_becomes_a_search(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    tablets = await chat.turn("¿Qué tablets tienen? Es para que mi nene haga la tarea", thread_id=thread)
    assert tablets.route == "products" and "Galaxy Tab A9+" in tablets.reply and "iPad" in tablets.reply
    screen = await chat.turn("¿Cuál tiene la pantalla más grande?", thread_id=thread)
    assert "Samsung Galaxy Tab A9+" in screen.reply.split("\n")[0] and "11 pulgadas" in screen.reply
    await chat.turn("¿qué freidoras de aire tenéis?", thread_id=thread)
    await chat.turn("me quedo la Cosori, pero quiero 2, una para cada hermana", thread_id=thread)
    assert await cart_of(chat, thread) == {"COC-COS-PROLE-47": 2}


async def test_a_feature_of_another_kind_is_a_search_not_a_question_about_the_focus(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿Tienen las Nike Pegasus 40 en talle 43?", thread_id=thread)
    watch = await chat.turn("tenes algun reloj inteligente q funcione con android?", thread_id=thread)
    assert "Samsung Galaxy Watch6" in watch.reply and "Pegasus" not in watch.reply


async def test_a_count_asked_about_the_product_is_read_from_its_data_and_never_from_the_cache(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿qué lanzadores Nerf tenéis?", thread_id=thread)
    darts = await chat.turn("El lanzador Nerf, ¿cuántos dardos trae?", thread_id=thread)
    assert not darts.cached and "12" in darts.reply and "Lanzador Nerf Elite 2.0 Commander" in darts.reply
    await chat.turn("¿Qué pañales Dodot tenéis de talla 4?", thread_id=thread)
    nappies = await chat.turn("¿Cuántos pañales trae el paquete?", thread_id=thread)
    assert "76" in nappies.reply and "Toallitas" not in nappies.reply
    await chat.turn("Ponme dos paquetes y las toallitas Dodot", thread_id=thread)
    assert await cart_of(chat, thread) == {"BEB-DOD-SENS-T4-76": 2, "BEB-DOD-TOALL-6X54": 1}


async def test_a_range_in_a_name_is_never_the_content_of_a_pack(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿qué comida tenéis para un perro mediano adulto?", thread_id=thread)
    per_kilo = await chat.turn("¿Cuál sale más barato por kilo?", thread_id=thread)
    assert not per_kilo.reply.startswith("Sale más a cuenta Snacks dentales")  # "para perros de 10 a 25 kg"


async def test_a_regional_word_for_something_not_sold_says_so(chat: Any, request: pytest.FixtureRequest) -> None:
    fridge = await chat.turn("Hola, ¿venden heladeras? Se me rompió la mía", thread_id=tid(request))
    said = fridge.reply.lower()
    assert "«heladera»" in said and ("no vendemos" in said or "no tenemos" in said) and "motosierra" not in said


async def test_a_past_purchase_and_a_refund_are_policy_questions(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    returns = await chat.turn(
        "Hola, compré unos auriculares hace tres semanas y no me convencen. ¿Todavía puedo devolverlos?",
        thread_id=thread,
    )
    assert returns.route == "conversation" and "Devoluciones" in returns.reply and "30 días" in returns.reply
    assert await cart_of(chat, thread) == {}
    refund = await chat.turn("¿Y cuándo me devolvéis el dinero?", thread_id=thread)
    assert "Devoluciones" in refund.reply
    kept = await chat.turn("¿cuántos días me lo guardan en la tienda?", thread_id=thread)
    assert "15 días" in kept.reply


async def test_checkout_in_latin_american_words(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("añade 2 pilas Duracell AA al carrito", thread_id=thread)
    closing = await chat.turn("listo, cerrá el pedido", thread_id=thread)
    assert closing.route == "orders" and "¿A nombre de quién hago el pedido?" in closing.reply  # the checkout starts
    closing = await give_details(chat, thread)
    assert closing.awaiting_confirmation and "¿Confirmo" in closing.reply


async def test_slash_commands_typed_in_the_chat(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("añade 2 pilas Duracell AA al carrito", thread_id=thread)
    shown = await chat.turn("/carrito", thread_id=thread)
    assert shown.route == "orders" and "Tu carrito" in shown.reply and "No encuentro" not in shown.reply
    order = await chat.turn("/pedido", thread_id=thread)
    assert order.route == "orders" and "¿A nombre de quién hago el pedido?" in order.reply  # the checkout starts
    order = await give_details(chat, thread)
    assert order.awaiting_confirmation
    help_ = await chat.turn("/ayuda", thread_id=f"{thread}-2")
    assert "Puedo buscar productos" in help_.reply


async def test_the_dearest_of_a_list_by_how_much_and_the_list_stays(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿qué zapatillas de running tenéis?", thread_id=thread)
    await chat.turn("¿y en 42?", thread_id=thread)  # two colours of one model, one price
    tie = await chat.turn("¿cuál es más cara y por cuánto?", thread_id=thread)
    assert f"Cuestan lo mismo: {euros('139.99')}" in tie.reply
    phones = await chat.turn("¿qué móviles tenéis?", thread_id=thread)
    assert "Apple iPhone 15 256 GB Negro" in phones.reply and "Samsung Galaxy S24 256 GB" in phones.reply
    gap = await chat.turn("¿cuál es el más caro y por cuánto?", thread_id=thread)
    assert f"Hay {euros('120.00')} de diferencia: el más caro es Apple iPhone 15 256 GB Negro;" in gap.reply


async def test_after_the_cheapest_of_a_kind_the_dearest_is_of_the_kind(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿qué móviles tenéis?", thread_id=thread)
    cheapest = await chat.turn("¿cuál es el más barato?", thread_id=thread)
    assert "Motorola moto g54" in cheapest.reply and "Cable" not in cheapest.reply  # a phone, not a phone cable
    dearest = await chat.turn("¿y el más caro?", thread_id=thread)
    assert "Apple iPhone 15 Pro 256 GB Titanio natural" in dearest.reply and "1.349,00 €" in dearest.reply
    among = await chat.turn("¿y de esos cuál es el más barato?", thread_id=thread)
    assert "Apple iPhone 15 128 GB" in among.reply and euros("959.00") in among.reply


async def test_a_version_said_by_a_bare_number_is_one_of_those_shown(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿qué portátiles tenéis?", thread_id=thread)
    await chat.turn("¿cuál tiene más RAM?", thread_id=thread)
    eight = await chat.turn("¿hay alguno de 8?", thread_id=thread)
    assert "8 GB 512 GB" in eight.reply and "MacBook Air" in eight.reply and "16 GB" not in eight.reply
    which = await chat.turn("me quedo la de 8", thread_id=thread)
    assert "¿Cuál quieres?" in which.reply and await cart_of(chat, thread) == {}  # two fit: asked, nothing added
    assert "Pixel" not in which.reply  # "8" is never a catalogue search (the Google Pixel 8)
    await chat.turn("el primero", thread_id=thread)
    assert await cart_of(chat, thread) == {"INF-LEN-IPS3-15-8GB": 1}


async def test_their_differences_and_a_number_that_ends_a_range(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿Qué portátiles tenéis por menos de 600 €?", thread_id=thread)
    apart = await chat.turn("¿En qué se diferencian?", thread_id=thread)
    assert "ram: 8 GB / 16 GB" in apart.reply and euros("80.00") in apart.reply  # the two shown, not a search
    windows = await chat.turn("¿El de 16 trae Windows?", thread_id=thread)
    assert "16 GB" in windows.reply and "sin sistema operativo" in windows.reply
    tvs = f"{thread}-tv"
    await chat.turn("Quiero una pantalla grande pa la sala, de 55 pulgadas pa arriba", thread_id=tvs)
    left = await chat.turn("cuantas les quedan de la de 65?", thread_id=tvs)  # the wall mount "de 32 a 65" is not
    assert "65" in left.reply and "2 unidades" in left.reply
    await chat.turn("orale, pues la de 65 y el soporte pa colgarla. cuanto seria?", thread_id=tvs)
    assert await cart_of(chat, tvs) == {"ELE-LG-OLEDC3-65": 1, "ELE-VOG-SOP-TV-3265": 1}


async def test_a_policy_question_is_continued_by_the_next_turn(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("Hola, ¿cuánto cuesta el envío?", thread_id=thread)
    baleares = await chat.turn("¿Y si vivo en Mallorca?", thread_id=thread)  # no product about Mallorca: the shipping
    assert baleares.route == "conversation" and euros("7.95") in baleares.reply, baleares.reply
    canarias = await chat.turn("¿Y a Tenerife? ¿Tengo que pagar algo más cuando me llegue?", thread_id=thread)
    assert euros("12.95") in canarias.reply and "IGIC" in canarias.reply, canarias.reply  # the place said last
    plazos = await chat.turn("¿se puede pagar a plazos?", thread_id=thread)
    assert "Formas de pago" in plazos.reply and "12 meses" in plazos.reply  # not the "plazos de entrega"
    short = f"{thread}-short"  # the middle turn asks on its own too ("vivo en"): the third still follows the first
    for said in ("¿cuánto cuesta el envío?", "¿Y si vivo en Mallorca?"):
        await chat.turn(said, thread_id=short)
    tenerife = await chat.turn("¿Y a Tenerife?", thread_id=short)
    assert euros("12.95") in tenerife.reply, tenerife.reply
    alone = await chat.turn("¿Y a Tenerife?", thread_id=f"{thread}-alone")
    assert "12,95" not in alone.reply  # without a policy question before, it continues nothing


async def test_a_question_about_orders_is_not_an_order(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("me llevo la Bialetti", thread_id=thread)
    keep = await chat.turn("¿Cuánto tiempo me lo guardáis?", thread_id=thread)
    assert "15 días" in keep.reply and await cart_of(chat, thread) == {"COC-BIA-MOKA-6T": 1}
    regret = await chat.turn("Si me arrepiento después de hacer el pedido, ¿lo puedo cancelar?", thread_id=thread)
    assert regret.route == "conversation" and regret.asking is None and "Cancelar" in regret.reply


async def test_the_words_that_close_a_purchase_in_the_cart(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    await chat.turn("¿La Bialetti sirve para placa de inducción?", thread_id=thread)
    await chat.turn("Pues me la llevo, con dos paquetes de café Lavazza", thread_id=thread)
    assert await cart_of(chat, thread) == {"COC-BIA-MOKA-6T": 1, "COC-LAV-QROSSA-250": 2}
    # "se pasa" (of the budget) buys nothing
    over = await chat.turn("Se pasa un poco, pero bueno. Finaliza la compra", thread_id=thread)
    assert over.asking == "name" and await cart_of(chat, thread) == {"COC-BIA-MOKA-6T": 1, "COC-LAV-QROSSA-250": 2}
    other = f"{thread}-2"
    await chat.turn("poneme 2 packs de mamaderas y 1 de chupetes", thread_id=other)
    assert await cart_of(chat, other) == {"BEB-PHI-AVNAT-260-2U": 2, "BEB-SUA-CHUP-06-2U": 1}
    done = await chat.turn("listo, eso es todo, quiero pagar", thread_id=other)  # "todo" is no product
    assert done.asking == "name" and await cart_of(chat, other) == {"BEB-PHI-AVNAT-260-2U": 2, "BEB-SUA-CHUP-06-2U": 1}


async def test_a_kind_the_shop_does_not_sell_is_said_plainly(chat: Any, request: pytest.FixtureRequest) -> None:
    thread = tid(request)
    washers = await chat.turn("y lavadoras??", thread_id=thread)  # only dishwasher tablets say "lavavajillas"
    assert "lavadoras" in washers.reply and "Finish" not in washers.reply and washers.products == []
    bulbs = await chat.turn("¿tenéis bombillas?", thread_id=thread)  # a kind the shop does sell is listed
    assert bulbs.products and "no tenemos" not in bulbs.reply.lower()
    await chat.turn("auriculares baratos", thread_id=thread)
    await chat.turn("cafeteras", thread_id=thread)  # a kind named after a list: a search, never a purchase
    assert await cart_of(chat, thread) == {}


async def test_a_question_about_the_product_in_focus_in_words_no_product_is(
    chat: Any, request: pytest.FixtureRequest
) -> None:
    thread = tid(request)
    await chat.turn("¿cuánto cuesta la GoPro?", thread_id=thread)
    deep = await chat.turn("hasta cuántos metros se puede sumergir?", thread_id=thread)
    assert deep.route == "products" and "10 metros" in deep.reply and "GoPro" in deep.reply
    origin = await chat.turn("¿y de dónde es, de Japón?", thread_id=thread)
    assert "No tengo ese dato de Cámara deportiva GoPro HERO12 Black" in origin.reply, origin.reply
