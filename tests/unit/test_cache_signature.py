"""What the semantic cache may treat as the same question: never a feature question and a plain search."""

from __future__ import annotations

import pytest

from agent.cache import signature


@pytest.mark.parametrize(
    ("listing", "asking"),
    [
        ("¿qué lanzadores Nerf tenéis?", "El lanzador Nerf, ¿cuántos dardos trae?"),
        ("¿tenéis el iPhone 15?", "¿cuánto pesa el iPhone 15?"),
        ("¿qué pañales Dodot tenéis?", "¿cuántos pañales trae el paquete de Dodot?"),
    ],
)
def test_a_question_about_a_feature_never_shares_a_search_answer(listing: str, asking: str) -> None:
    assert signature(listing) is not None
    assert signature(asking) != signature(listing)


def test_the_same_question_in_other_words_still_shares_its_signature() -> None:
    assert signature("¿tenéis lanzadores Nerf?") == signature("¿qué lanzadores nerf teneis?")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("¿Tenéis la Switch OLED?", "HOLA TIENEN LA NINTENDO SWITCH OLED??"),
        ("¿Tenéis la camiseta Levi's blanca en talla L?", "tienen la camiseta levis blanca talla L?"),
    ],
)
def test_asking_whether_the_shop_has_a_product_is_no_feature_question(first: str, second: str) -> None:
    assert signature(first) is not None and signature(first)[1] == signature(second)[1]  # "OLED", "talla" name it
