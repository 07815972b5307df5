"""The answer to "¿Confirmo el pedido?" (agent.orders.answer_kind): a clear yes places the order, a no leaves it,
anything else is a new question and leaves the order unconfirmed (chat.ChatService.turn).

Only a clear, unconditional yes may be "yes": a yes that asks for a change first must not place the order.
"""

from __future__ import annotations

import pytest

from agent.orders import answer_kind


def bug(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # yes
    pytest.param("sí", "yes", id="si"),
    pytest.param("Sí, confirmo", "yes", id="si-confirmo"),
    pytest.param("Si, dale", "yes", id="si-dale-no-accent"),
    pytest.param("vale", "yes", id="vale"),
    pytest.param("dale", "yes", id="dale"),
    pytest.param("ok, adelante", "yes", id="ok-adelante"),
    pytest.param("Sí, por favor", "yes", id="si-por-favor"),
    pytest.param("de acuerdo", "yes", id="de-acuerdo"),
    pytest.param("claro que sí", "yes", id="claro-que-si"),
    pytest.param("confirmo el pedido", "yes", id="confirmo-el-pedido"),
    pytest.param("perfecto, hazlo", "yes", id="perfecto-hazlo"),
    pytest.param("venga", "yes", id="venga"),
    pytest.param("Sí!!", "yes", id="si-exclamations"),
    pytest.param("SÍ, CONFIRMA", "yes", id="shouted"),
    pytest.param("por supuesto", "yes", id="por-supuesto"),
    pytest.param("Sí, adelante con el pedido", "yes", id="si-adelante-con-el-pedido"),
    pytest.param("sí, sin problema", "yes", id="si-sin-problema"),
    # no
    pytest.param("no", "no", id="no"),
    pytest.param("No, gracias", "no", id="no-gracias"),
    pytest.param("mejor no", "no", id="mejor-no"),
    pytest.param("espera", "no", id="espera"),
    pytest.param("todavía no", "no", id="todavia-no"),
    pytest.param("cancela", "no", id="cancela"),
    pytest.param("déjalo", "no", id="dejalo"),
    pytest.param("ahora no", "no", id="ahora-no"),
    pytest.param("No, no lo confirmes", "no", id="no-no-lo-confirmes"),
    pytest.param("no gracias, sigo mirando", "no", id="no-sigo-mirando"),
    pytest.param("espera, que añado otra cosa", "no", id="espera-que-anado"),
    # other: a new question or request
    pytest.param("¿cuánto cuesta el envío?", "other", id="question-shipping"),
    pytest.param("añade también una funda", "other", id="adds-something"),
    pytest.param("¿puedo pagar con Bizum?", "other", id="question-payment"),
    pytest.param("¿Me lo podéis enviar a Canarias?", "other", id="question-delivery"),
    pytest.param("mejor quita el cargador", "other", id="removes-something"),
    pytest.param("hmm, déjame pensarlo", "other", id="thinking"),
    # the customer says yes but asks for something first: not a clear yes
    pytest.param(
        "sí, pero quita la funda",
        "other",
        id="yes-but-remove-first",
    ),
    pytest.param(
        "Vale, pero antes dime cuánto es el envío",
        "other",
        id="yes-but-question-first",
    ),
    pytest.param(
        "Sí, no hay problema",
        "yes",
        id="yes-no-problem",
    ),
    pytest.param(
        "claro que no",
        "no",
        id="claro-que-no",
    ),
    pytest.param(
        "cancélalo",
        "no",
        id="cancelalo",
    ),
    pytest.param(
        "listo",
        "yes",
        id="listo-latam",
    ),
    pytest.param(
        "órale, sí",
        "yes",
        id="orale-si-mexico",
    ),
]


@pytest.mark.parametrize(("text", "kind"), CASES)
def test_answer_kind(text: str, kind: str) -> None:
    assert answer_kind(text) == kind
