"""Shipping rates read from the policies document, and what a cart pays: exact to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agent.shipping import asks_shipping_cost, cost_line, destination
from data.policies import SAMPLE_POLICIES, parse
from data.policies import read as read_policies
from data.shipping import ShippingRate, shipping_rates

RATES = shipping_rates(read_policies(SAMPLE_POLICIES))
TOPICS = {"burgos": ["peninsula"], "mallorca": ["baleares"], "las palmas": ["canarias"]}


def test_the_sample_documents_rates_are_read_with_their_thresholds() -> None:
    by_name = {r.name: r for r in RATES}
    assert by_name["Península"] == ShippingRate(
        "Península", Decimal("4.95"), Decimal("49.00"), "24-48 horas laborables"
    )
    assert by_name["Baleares"].cost == Decimal("7.95") and by_name["Baleares"].free_from == Decimal("99.00")
    assert by_name["Canarias, Ceuta y Melilla"].free_from is None
    assert RATES[0].name == "Península"  # the first listed is the default destination


def test_an_owners_own_wording_and_sections_without_rates() -> None:
    text = (
        "## Gastos de envío\n\n- Zona centro: 3,50 euros, gratis a partir de 30 €.\n- Resto: 6 €.\n\n"
        "Los muebles pueden costar 12 € más.\n\n## Devoluciones\n\n- Plazo: 30 días, 0 € de coste.\n"
    )
    rates = shipping_rates(parse(text))
    assert [(r.name, r.cost, r.free_from) for r in rates] == [
        ("Zona centro", Decimal("3.50"), Decimal("30.00")),
        ("Resto", Decimal("6.00"), None),
    ]


@pytest.mark.parametrize(
    ("subtotal", "said", "expected"),
    [
        ("17.50", "cuanto me falta para el envio gratis", ["te faltan 31,50 €", "4,95 €", "Península"]),
        ("49.00", "llego al envio gratis", ["te sale gratis", "Península"]),
        ("97.45", "y a mallorca llego al envio gratis", ["te faltan 1,55 €", "Baleares", "7,95 €"]),
        ("20.00", "cuanto cuesta el envio a las palmas", ["12,95 €", "en total 32,95 €"]),
    ],
)
def test_the_cart_against_the_rate_of_the_place_said(subtotal: str, said: str, expected: list[str]) -> None:
    line = cost_line(RATES, Decimal(subtotal), said, TOPICS)
    assert all(text in line for text in expected), line


def test_a_destination_is_said_or_left_to_the_default() -> None:
    assert destination("vivo en burgos", RATES, TOPICS) is RATES[0]
    assert destination("cuanto cuesta el envio", RATES, TOPICS) is None
    assert "dime a dónde" in cost_line(RATES, Decimal("10.00"), "cuanto cuesta el envio", TOPICS)
    assert destination("envio urgente", RATES, TOPICS) is not None


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("cuanto me falta para el envio gratis", True),
        ("con eso ya no pago envio", True),
        ("cuanto cuestan los portes", True),
        ("cuando llega el envio", False),
        ("hacéis envios a canarias", False),
        ("cuanto cuesta el iphone", False),
    ],
)
def test_which_questions_ask_what_shipping_costs(text: str, asks: bool) -> None:
    assert asks_shipping_cost(text) is asks
