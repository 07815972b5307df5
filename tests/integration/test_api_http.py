"""The HTTP API end to end: a real `python -m server` seeded by `python -m manage setup`, spoken to with httpx.

Read tests compare the answers with data/catalogue/sample_products.json. Write tests create their own products
(unique SKUs, deleted afterwards), so the sample catalogue stays as seeded for every other test of the module.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLE, LiveServer
from vectorstore.text import fold

SAMPLE_PRODUCTS: list[dict[str, Any]] = [
    p for p in json.loads(SAMPLE.read_text(encoding="utf-8")) if p.get("active", True)
]
BY_SKU: dict[str, dict[str, Any]] = {p["sku"].strip().upper(): p for p in SAMPLE_PRODUCTS}
CATEGORIES = sorted({p["category"] for p in SAMPLE_PRODUCTS})
CENT = Decimal("0.01")
PRICE_FORMAT = re.compile(r"^\d+\.\d{2}$")
HIT_FIELDS = {"id", "sku", "name", "price", "stock", "score", "matched_by", "matched_terms"}
ENGLISH_MARKERS = ("Input should", "Field required", "should be", "is not a valid", "Value error")

# A sample product to read by id: its SKU appears in no other product's text, so a SKU search finds only it.
SAMPLE_SKU = "TEL-APL-IP15-128-BLA"

# tests/conftest.py start_server passes `stdout=log.open("wb")` to Popen and never closes that handle, so the
# fixture itself trips filterwarnings=error with a ResourceWarning; ignore exactly that one (see the report).


def money(value: Any) -> str:
    """How the API spells a price: a JSON string with exactly two decimals."""
    return str(Decimal(str(value)).quantize(CENT))


def sample_count(predicate: Callable[[dict[str, Any]], bool]) -> int:
    return sum(1 for p in SAMPLE_PRODUCTS if predicate(p))


def assert_spanish(detail: str, *fragments: str) -> None:
    assert isinstance(detail, str) and detail
    for marker in ENGLISH_MARKERS:
        assert marker not in detail, f"English text in an error for customers: {detail!r}"
    for fragment in fragments:
        assert fragment in detail, f"{fragment!r} missing from {detail!r}"


def unique_sku() -> str:
    return f"TEST-HTTP-{uuid.uuid4().hex[:12]}".upper()


def unique_word() -> str:
    """A made-up word (letters only) that no sample product contains: makes a test product easy to find."""
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=8))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def listed(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every product the list endpoint shows, by SKU, read before any test of the module wrote."""
    return {item["sku"]: item for item in list_all(client)}


@pytest.fixture
def make_product(client: httpx.Client, admin: dict[str, str]) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create products with unique SKUs through the API; delete whatever is left of them afterwards."""
    created: list[int] = []

    def make(**overrides: Any) -> dict[str, Any]:
        body = {
            "sku": unique_sku(),
            "name": f"Tostadora retro {unique_word()} dos ranuras",
            "description": "Tostadora de prueba creada por los tests HTTP.",
            "category": "Cocina",
            "subcategory": "Pequeño electrodoméstico",
            "brand": "Pruebas",
            "price": "24.90",
            "stock": 7,
        }
        body.update(overrides)
        response = client.post("/productos", json=body, headers=admin)
        assert response.status_code == 201, response.text
        product = response.json()
        created.append(product["id"])
        return product

    yield make
    for product_id in created:
        response = client.delete(f"/productos/{product_id}", headers=admin)
        assert response.status_code in (204, 404), response.text


def list_all(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get("/productos", params={**params, "pagina": page, "por_pagina": 100})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        if page >= body["paginas"]:
            return items
        page += 1


def total(client: httpx.Client, **params: Any) -> int:
    response = client.get("/productos", params={**params, "por_pagina": 1})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


def revision(client: httpx.Client) -> int:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    return int(response.json()["index"]["revision"])


def search(client: httpx.Client, q: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/productos/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    hits = response.json()
    assert isinstance(hits, list)
    return hits


def sample_id(listed: dict[str, dict[str, Any]], sku: str = SAMPLE_SKU) -> int:
    return int(listed[sku]["id"])


# --------------------------------------------------------------------------- health


def test_health_reports_ok_with_the_whole_sample_indexed(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["index"]["products"] == len(SAMPLE_PRODUCTS)
    assert body["index"]["vectors"] == len(SAMPLE_PRODUCTS)
    assert body["index"]["embedder"].startswith("use:")
    assert body["index"]["revision"] >= 1


# --------------------------------------------------------------------------- list


def test_list_shows_exactly_the_sample_catalogue(listed: dict[str, dict[str, Any]]) -> None:
    assert set(listed) == set(BY_SKU)
    for sku, item in listed.items():
        expected = BY_SKU[sku]
        assert item["name"] == expected["name"]
        assert item["price"] == money(expected["price"])
        assert item["stock"] == int(expected["stock"])
        assert item["category"] == expected["category"]
        assert item["brand"] == expected.get("brand", "")
        assert item["currency"] == "EUR"
        assert item["active"] is True


def test_list_pagination_covers_every_product_once(client: httpx.Client) -> None:
    per_page = 25
    first = client.get("/productos", params={"pagina": 1, "por_pagina": per_page}).json()
    count = len(SAMPLE_PRODUCTS)
    assert first["total"] == count
    assert first["pagina"] == 1
    assert first["por_pagina"] == per_page
    assert first["paginas"] == math.ceil(count / per_page)
    seen: list[int] = []
    for page in range(1, first["paginas"] + 1):
        body = client.get("/productos", params={"pagina": page, "por_pagina": per_page}).json()
        assert body["pagina"] == page
        assert body["total"] == count
        expected_len = per_page if page < first["paginas"] else count - per_page * (first["paginas"] - 1)
        assert len(body["items"]) == expected_len
        seen += [item["id"] for item in body["items"]]
    assert len(seen) == len(set(seen)) == count
    beyond = client.get("/productos", params={"pagina": first["paginas"] + 1, "por_pagina": per_page}).json()
    assert beyond["items"] == []
    assert beyond["total"] == count


def test_list_default_page_size_and_name_order(client: httpx.Client) -> None:
    body = client.get("/productos").json()
    assert body["por_pagina"] == 20
    assert len(body["items"]) == 20
    names = [item["name"] for item in body["items"]]
    assert names == sorted(names)


@pytest.mark.parametrize("spelling", ["telefonia", "Telefonía", "TELEFONIA", "  telefonía  "])
def test_list_category_filter_ignores_case_and_accents(client: httpx.Client, spelling: str) -> None:
    items = list_all(client, categoria=spelling)
    assert len(items) == sample_count(lambda p: p["category"] == "Telefonía") > 0
    assert {item["category"] for item in items} == {"Telefonía"}


def test_list_brand_filter(client: httpx.Client) -> None:
    items = list_all(client, marca="samsung")
    assert len(items) == sample_count(lambda p: p.get("brand") == "Samsung") > 0
    assert {item["brand"] for item in items} == {"Samsung"}


def test_list_unknown_brand_is_an_empty_page_not_an_error(client: httpx.Client) -> None:
    response = client.get("/productos", params={"marca": "MarcaQueNoExiste"})
    assert response.status_code == 200
    assert response.json()["total"] == 0
    assert response.json()["items"] == []


def test_list_price_range_filter(client: httpx.Client) -> None:
    low, high = Decimal("20"), Decimal("50")
    items = list_all(client, precio_min="20", precio_max="50")
    assert len(items) == sample_count(lambda p: low <= Decimal(p["price"]) <= high) > 0
    assert all(low <= Decimal(item["price"]) <= high for item in items)
    # The bounds are inclusive: a product priced exactly at a bound is listed.
    exact = SAMPLE_PRODUCTS[0]["price"]
    at_bound = list_all(client, precio_min=exact, precio_max=exact)
    assert SAMPLE_PRODUCTS[0]["sku"] in {item["sku"] for item in at_bound}


def test_list_in_stock_filter(client: httpx.Client) -> None:
    items = list_all(client, en_stock="true")
    assert len(items) == sample_count(lambda p: int(p["stock"]) > 0)
    assert len(items) < len(SAMPLE_PRODUCTS)  # the sample has sold-out products, so the filter really filters
    assert all(item["stock"] > 0 for item in items)


def test_list_unknown_category_is_422_listing_the_categories(client: httpx.Client) -> None:
    response = client.get("/productos", params={"categoria": "Astronáutica"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert_spanish(detail, "Astronáutica", "no existe", "Categorías")
    for category in CATEGORIES:
        assert category in detail


def test_list_price_min_above_price_max_is_422(client: httpx.Client) -> None:
    response = client.get("/productos", params={"precio_min": "50", "precio_max": "10"})
    assert response.status_code == 422
    assert_spanish(response.json()["detail"], "precio_min", "precio_max")


@pytest.mark.parametrize(("bound", "value"), [("precio_max", "19.985"), ("precio_min", "19.991")])
def test_list_price_bounds_finer_than_a_cent_are_respected(client: httpx.Client, bound: str, value: str) -> None:
    response = client.get("/productos", params={bound: value, "por_pagina": 100})
    if response.status_code == 422:  # refusing sub-cent bounds would be a fine answer too
        return
    assert response.status_code == 200
    limit = Decimal(value)
    prices = [Decimal(item["price"]) for item in list_all(client, **{bound: value})]
    assert prices
    if bound == "precio_max":
        assert all(price <= limit for price in prices), sorted(p for p in prices if p > limit)
    else:
        assert all(price >= limit for price in prices), sorted(p for p in prices if p < limit)


# --------------------------------------------------------------------------- one product


def test_get_product_by_id_with_exact_price(client: httpx.Client, listed: dict[str, dict[str, Any]]) -> None:
    expected = BY_SKU[SAMPLE_SKU]
    response = client.get(f"/productos/{sample_id(listed)}")
    assert response.status_code == 200
    product = response.json()
    assert product["sku"] == SAMPLE_SKU
    assert product["name"] == expected["name"]
    assert product["price"] == money(expected["price"])
    assert PRICE_FORMAT.match(product["price"])
    assert product["stock"] == expected["stock"]
    assert product["attributes"] == expected["attributes"]


def test_get_unknown_product_is_404_in_spanish(client: httpx.Client) -> None:
    response = client.get("/productos/987654")
    assert response.status_code == 404
    assert_spanish(response.json()["detail"], "No existe el producto 987654")


@pytest.mark.parametrize("product_id", ["abc", "1.5", "uno"])
def test_get_product_with_non_integer_id_is_422(client: httpx.Client, product_id: str) -> None:
    response = client.get(f"/productos/{product_id}")
    assert response.status_code == 422
    assert_spanish(response.json()["detail"], "número entero")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_product_id_beyond_64_bits_is_a_client_error(client: httpx.Client, admin: dict[str, str], method: str) -> None:
    body = {"stock": 1} if method == "PATCH" else None
    response = client.request(method, "/productos/99999999999999999999", json=body, headers=admin)
    assert response.status_code in (404, 422), response.text


# --------------------------------------------------------------------------- hybrid search


def test_search_hits_have_the_documented_fields(client: httpx.Client) -> None:
    hits = search(client, "auriculares inalámbricos", limite=5)
    assert 0 < len(hits) <= 5
    for hit in hits:
        assert set(hit) >= HIT_FIELDS
        assert isinstance(hit["id"], int)
        assert isinstance(hit["stock"], int)
        assert isinstance(hit["score"], float)
        assert PRICE_FORMAT.match(hit["price"])
        assert set(hit["matched_by"]) <= {"sku", "brand", "keyword", "semantic"}
        assert all(isinstance(term, str) for term in hit["matched_terms"])
        expected = BY_SKU[hit["sku"]]  # what search quotes is the catalogue's truth
        assert hit["name"] == expected["name"]
        assert hit["price"] == money(expected["price"])
        assert hit["stock"] == expected["stock"]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


def test_search_model_and_colour(client: httpx.Client) -> None:
    hits = search(client, "iphone 15 blanco")
    assert "iPhone 15" in hits[0]["name"]
    assert "Blanco" in hits[0]["name"]
    assert "keyword" in hits[0]["matched_by"]
    assert {"iphone", "15", "blanco"} <= set(hits[0]["matched_terms"])


@pytest.mark.parametrize("spelling", [SAMPLE_SKU, SAMPLE_SKU.lower(), f"¿tenéis el {SAMPLE_SKU}?"])
def test_search_exact_sku_ranks_first(client: httpx.Client, spelling: str) -> None:
    hits = search(client, spelling)
    assert hits[0]["sku"] == SAMPLE_SKU
    assert "sku" in hits[0]["matched_by"]
    assert all("sku" not in hit["matched_by"] for hit in hits[1:])


def test_search_survives_a_typo(client: httpx.Client) -> None:
    hits = search(client, "zapatilas nike", limite=3)
    assert len(hits) == 3
    for hit in hits:
        assert "Zapatillas" in hit["name"]
        assert hit["brand"] == "Nike"
    # Without the brand to lean on, the misspelt word alone still finds trainers.
    assert all("zapatilla" in fold(hit["subcategory"]) for hit in search(client, "zapatilas", limite=5))


def test_search_without_accents_finds_phones(client: httpx.Client) -> None:
    hits = search(client, "telefono movil", limite=5)
    assert hits[0]["category"] == "Telefonía"
    assert hits[0]["subcategory"] == "Smartphones"
    assert sum(hit["subcategory"] == "Smartphones" for hit in hits) >= 3


def test_search_brand_in_query_ranks_that_brand_first(client: httpx.Client) -> None:
    hits = search(client, "samsung", limite=20)
    samsung = sample_count(lambda p: p.get("brand") == "Samsung")
    assert [hit["brand"] for hit in hits[:samsung]] == ["Samsung"] * samsung
    assert all("brand" in hit["matched_by"] for hit in hits[:samsung])
    assert all(hit["brand"] != "Samsung" for hit in hits[samsung:])


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"categoria": "electronica"}, lambda h: "electronica" in (fold(h["category"]), fold(h["subcategory"]))),
        ({"categoria": "Cafeteras"}, lambda h: h["subcategory"] == "Cafeteras"),
        ({"marca": "SONY"}, lambda h: h["brand"] == "Sony"),
        ({"precio_max": "50"}, lambda h: Decimal(h["price"]) <= 50),
        ({"precio_min": "100", "precio_max": "400"}, lambda h: 100 <= Decimal(h["price"]) <= 400),
        ({"en_stock": "true"}, lambda h: h["stock"] > 0),
        (
            {"categoria": "Electrónica", "marca": "sony", "precio_max": "600", "en_stock": "true"},
            lambda h: (
                h["category"] == "Electrónica"
                and h["brand"] == "Sony"
                and Decimal(h["price"]) <= 600
                and h["stock"] > 0
            ),
        ),
    ],
    ids=["categoria", "subcategoria", "marca", "precio_max", "precio_rango", "en_stock", "todos"],
)
def test_search_filters_are_respected_by_every_hit(
    client: httpx.Client, params: dict[str, str], check: Callable[[dict[str, Any]], bool]
) -> None:
    hits = search(client, "auriculares sony", limite=100, **params)
    assert hits, "the filter left nothing: the check below would prove nothing"
    failing = [(h["name"], h["category"], h["brand"], h["price"], h["stock"]) for h in hits if not check(h)]
    assert failing == []


def test_search_in_stock_filter_drops_sold_out_products(client: httpx.Client) -> None:
    sold_out = {p["sku"] for p in SAMPLE_PRODUCTS if int(p["stock"]) == 0 and "Auriculares" in p["name"]}
    assert sold_out, "the sample should have sold-out headphones"
    every = {hit["sku"] for hit in search(client, "auriculares", limite=100)}
    in_stock = {hit["sku"] for hit in search(client, "auriculares", limite=100, en_stock="true")}
    assert sold_out <= every
    assert not sold_out & in_stock


def test_search_unknown_category_is_422_listing_the_categories(client: httpx.Client) -> None:
    response = client.get("/productos/search", params={"q": "auriculares", "categoria": "Astronáutica"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert_spanish(detail, "no existe")
    assert all(category in detail for category in CATEGORIES)


def test_search_price_min_finer_than_a_cent_is_respected(client: httpx.Client) -> None:
    response = client.get("/productos/search", params={"q": "funda", "precio_min": "19.991", "limite": 100})
    if response.status_code == 422:  # refusing sub-cent bounds would be a fine answer too
        return
    assert response.status_code == 200
    cheap = [(hit["name"], hit["price"]) for hit in response.json() if Decimal(hit["price"]) < Decimal("19.991")]
    assert cheap == []


# --------------------------------------------------------------------------- semantic search


def test_semantic_search_returns_at_most_k_products(client: httpx.Client) -> None:
    response = client.get("/productos/semantic-search", params={"q": "cafetera espresso", "k": 3})
    assert response.status_code == 200
    hits = response.json()
    assert isinstance(hits, list)
    assert 1 <= len(hits) <= 3
    for hit in hits:
        assert {"id", "sku", "name", "price", "stock", "score"} <= set(hit)
        assert PRICE_FORMAT.match(hit["price"])
        assert hit["price"] == money(BY_SKU[hit["sku"]]["price"])
        assert hit["matched_by"] == ["semantic"]
    assert any(hit["subcategory"] == "Cafeteras" for hit in hits)
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("params", [{"q": "cafetera", "k": 0}, {"q": ""}, {"q": "x" * 201}])
def test_semantic_search_rejects_bad_input(client: httpx.Client, params: dict[str, Any]) -> None:
    response = client.get("/productos/semantic-search", params=params)
    assert response.status_code == 422
    assert_spanish(response.json()["detail"])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "fragments"),
    [
        ({"q": "a" * 10_000}, ("q", "demasiado largo", "200")),
        ({"q": ""}, ("q", "no puede estar vacío")),
        ({"q": "   "}, ("vacía",)),
        ({"q": "movil", "precio_min": "abc"}, ("precio_min", "debe ser un número")),
        ({"q": "movil", "precio_max": "-5"}, ("precio_max", "mayor o igual que 0")),
        ({"q": "movil", "en_stock": "quizas"}, ("en_stock", "sí o no")),
        ({"q": "movil", "limite": "0"}, ("limite", "mayor o igual que 1")),
        ({"q": "movil", "limite": "101"}, ("limite", "menor o igual que 100")),
        ({"q": "movil", "precio_min": "10", "precio_max": "1"}, ("precio_min no puede ser mayor",)),
    ],
    ids=[
        "q-10kB",
        "q-vacio",
        "q-espacios",
        "precio-abc",
        "precio-negativo",
        "en_stock",
        "limite-0",
        "limite-101",
        "rango",
    ],
)
def test_search_bad_input_is_422_in_spanish(
    client: httpx.Client, params: dict[str, str], fragments: tuple[str, ...]
) -> None:
    response = client.get("/productos/search", params=params)
    assert response.status_code == 422
    assert_spanish(response.json()["detail"], *fragments)


@pytest.mark.parametrize(
    "params",
    [{"pagina": "0"}, {"por_pagina": "0"}, {"por_pagina": "101"}, {"pagina": "dos"}, {"en_stock": "quizas"}],
)
def test_list_bad_input_is_422_in_spanish(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/productos", params=params)
    assert response.status_code == 422
    body = response.json()
    assert_spanish(body["detail"], "Datos no válidos")
    assert [error["campo"] for error in body["errores"]] == list(params)


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
def test_non_finite_price_bound_is_explained_in_spanish(client: httpx.Client, value: str) -> None:
    response = client.get("/productos", params={"precio_min": value})
    assert response.status_code == 422
    assert_spanish(response.json()["detail"], "precio_min")


# --------------------------------------------------------------------------- failed writes change nothing


@pytest.mark.parametrize(
    ("status", "fragments", "body"),
    [
        (422, ("precio", "mayor o igual que 0"), {"price": "-1.00"}),
        (422, ("precio", "dos decimales"), {"price": "12.345"}),
        (422, ("precio", "dos decimales"), {"price": 12.345}),
        (422, ("moneda", "EUR"), {"currency": "USD"}),
        (422, ("existencias",), {"stock": -1}),
        (422, ("nombre", "falta"), {"name": None}),
        (400, ("JSON",), None),
    ],
    ids=["precio-negativo", "tres-decimales-texto", "tres-decimales-numero", "moneda", "stock", "sin-nombre", "json"],
)
def test_invalid_create_is_refused_and_changes_nothing(
    client: httpx.Client,
    admin: dict[str, str],
    status: int,
    fragments: tuple[str, ...],
    body: dict[str, Any] | None,
) -> None:
    sku = unique_sku()
    before_total, before_revision = total(client), revision(client)
    payload = {"sku": sku, "name": "Producto inválido", "category": "Cocina", "price": "10.00", "stock": 1}
    if body is None:
        response = client.post(
            "/productos",
            content=b'{"sku": "' + sku.encode() + b'", "price": 1',
            headers={**admin, "Content-Type": "application/json"},
        )
    else:
        payload.update(body)
        payload = {k: v for k, v in payload.items() if v is not None}
        response = client.post("/productos", json=payload, headers=admin)
    assert response.status_code == status, response.text
    assert_spanish(response.json()["detail"], *fragments)
    assert total(client) == before_total
    assert revision(client) == before_revision
    assert all(hit["sku"] != sku for hit in search(client, sku))


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"price": None}, ("precio", "nulo")),
        ({"stock": None}, ("existencias", "nulo")),
        ({"price": "-3"}, ("precio", "mayor o igual que 0")),
        ({"price": "9.999"}, ("precio", "dos decimales")),
        ({"stock": 2.5}, ("existencias", "entero")),
        ({"name": ""}, ("nombre", "vacío")),
    ],
)
def test_invalid_patch_is_refused_and_changes_nothing(
    client: httpx.Client,
    admin: dict[str, str],
    make_product: Callable[..., dict[str, Any]],
    body: dict[str, Any],
    fragments: tuple[str, ...],
) -> None:
    product = make_product()
    before_revision = revision(client)
    response = client.patch(f"/productos/{product['id']}", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert_spanish(response.json()["detail"], *fragments)
    after = client.get(f"/productos/{product['id']}").json()
    assert after == product
    assert revision(client) == before_revision


def test_patch_or_delete_of_unknown_product_is_404(client: httpx.Client, admin: dict[str, str]) -> None:
    before = total(client)
    patch = client.patch("/productos/987654", json={"stock": 3}, headers=admin)
    delete = client.delete("/productos/987654", headers=admin)
    assert patch.status_code == delete.status_code == 404
    assert_spanish(patch.json()["detail"], "No existe el producto 987654")
    assert total(client) == before


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "clave-equivocada"}, {"X-API-Key": ""}], ids=["sin", "mala", "vacia"]
)
def test_writes_without_a_valid_key_are_401_and_change_nothing(
    client: httpx.Client, make_product: Callable[..., dict[str, Any]], headers: dict[str, str]
) -> None:
    product = make_product()
    before_total, before_revision = total(client), revision(client)
    sku = unique_sku()
    responses = [
        client.post(
            "/productos", json={"sku": sku, "name": "Intruso", "category": "Cocina", "price": "1.00"}, headers=headers
        ),
        client.patch(f"/productos/{product['id']}", json={"price": "0.01", "stock": 0}, headers=headers),
        client.delete(f"/productos/{product['id']}", headers=headers),
    ]
    for response in responses:
        assert response.status_code == 401, response.text
        assert_spanish(response.json()["detail"], "X-API-Key")
        assert response.headers["WWW-Authenticate"] == "X-API-Key"
    assert client.get(f"/productos/{product['id']}").json() == product
    assert total(client) == before_total
    assert revision(client) == before_revision
    assert all(hit["sku"] != sku for hit in search(client, sku))


# --------------------------------------------------------------------------- writes


def test_created_product_can_be_read_and_found(
    client: httpx.Client, make_product: Callable[..., dict[str, Any]]
) -> None:
    before_total, before_revision = total(client), revision(client)
    sku = unique_sku()
    product = make_product(sku=f"  {sku.lower()} ", price="12.5", attributes={"color": "rojo"})
    assert product["sku"] == sku  # trimmed and upper-cased
    assert product["price"] == "12.50"
    assert product["currency"] == "EUR"
    assert product["active"] is True

    read = client.get(f"/productos/{product['id']}")
    assert read.status_code == 200
    assert read.json() == product

    hits = search(client, product["name"])
    assert hits[0]["id"] == product["id"]
    assert hits[0]["price"] == "12.50"
    assert hits[0]["stock"] == 7
    assert search(client, sku)[0]["id"] == product["id"]
    assert total(client) == before_total + 1
    assert revision(client) > before_revision
    assert product["sku"] in {item["sku"] for item in list_all(client, categoria="cocina", marca="pruebas")}


def test_duplicate_sku_is_409_and_keeps_the_first(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product()
    before_total = total(client)
    again = {"sku": product["sku"].lower(), "name": "Otro nombre", "category": "Hogar", "price": "1.00"}
    response = client.post("/productos", json=again, headers=admin)
    assert response.status_code == 409
    assert_spanish(response.json()["detail"], "Ya existe", product["sku"])
    assert client.get(f"/productos/{product['id']}").json() == product
    assert total(client) == before_total


def test_patch_to_another_products_sku_is_409(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    first, second = make_product(), make_product()
    response = client.patch(f"/productos/{second['id']}", json={"sku": first["sku"]}, headers=admin)
    assert response.status_code == 409
    assert_spanish(response.json()["detail"], first["sku"])
    assert client.get(f"/productos/{second['id']}").json() == second


def test_patched_price_is_what_the_next_search_quotes(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(price="24.90")
    assert search(client, product["name"])[0]["price"] == "24.90"
    for new_price in ("19.5", "31.07", "0"):
        response = client.patch(f"/productos/{product['id']}", json={"price": new_price}, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["price"] == money(new_price)
        hit = search(client, product["name"])[0]
        assert hit["id"] == product["id"]
        assert hit["price"] == money(new_price)
        assert client.get(f"/productos/{product['id']}").json()["price"] == money(new_price)
    # The price filters see the new price too.
    cheap = search(client, product["name"], precio_max="0.50")
    assert product["id"] in {hit["id"] for hit in cheap}
    assert product["id"] not in {hit["id"] for hit in search(client, product["name"], precio_min="1")}


def test_patch_changes_only_the_fields_it_names(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product()
    response = client.patch(f"/productos/{product['id']}", json={"stock": 42}, headers=admin)
    assert response.status_code == 200
    after = response.json()
    assert after["stock"] == 42
    unchanged = {k: v for k, v in after.items() if k not in ("stock", "updated_at")}
    assert unchanged == {k: v for k, v in product.items() if k not in ("stock", "updated_at")}


def test_sold_out_product_disappears_from_in_stock_search(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=5)
    assert product["id"] in {hit["id"] for hit in search(client, product["name"], en_stock="true")}
    response = client.patch(f"/productos/{product['id']}", json={"stock": 0}, headers=admin)
    assert response.status_code == 200
    assert response.json()["stock"] == 0
    assert product["id"] not in {hit["id"] for hit in search(client, product["name"], en_stock="true")}
    assert product["id"] not in {item["id"] for item in list_all(client, categoria="cocina", en_stock="true")}
    hit = search(client, product["name"])[0]  # still sold, just not in stock
    assert hit["id"] == product["id"]
    assert hit["stock"] == 0


def test_deleted_product_is_gone_from_reads_and_search(
    client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product()
    assert search(client, product["name"])[0]["id"] == product["id"]
    before_total = total(client)
    response = client.delete(f"/productos/{product['id']}", headers=admin)
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(f"/productos/{product['id']}").status_code == 404
    assert product["id"] not in {hit["id"] for hit in search(client, product["name"])}
    assert product["id"] not in {hit["id"] for hit in search(client, product["sku"])}
    semantic = client.get("/productos/semantic-search", params={"q": product["name"], "k": 20}).json()
    assert product["id"] not in {hit["id"] for hit in semantic}
    assert total(client) == before_total - 1
    assert client.delete(f"/productos/{product['id']}", headers=admin).status_code == 404


def test_writes_leave_the_sample_catalogue_untouched(
    client: httpx.Client,
    admin: dict[str, str],
    listed: dict[str, dict[str, Any]],
    make_product: Callable[..., dict[str, Any]],
) -> None:
    product = make_product()
    patched = client.patch(f"/productos/{product['id']}", json={"price": "1.00", "stock": 0}, headers=admin)
    assert patched.status_code == 200
    assert client.delete(f"/productos/{product['id']}", headers=admin).status_code == 204
    assert {item["sku"]: item for item in list_all(client)} == listed


# --------------------------------------------------------------------------- concurrency


def test_concurrent_stock_patches_all_succeed(
    live_server: LiveServer, client: httpx.Client, admin: dict[str, str], make_product: Callable[..., dict[str, Any]]
) -> None:
    product = make_product(stock=1000)
    before = revision(client)
    values = list(range(1, 21))
    start = threading.Barrier(len(values))

    def patch(value: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.base_url, headers=admin, timeout=60) as http:
            start.wait(timeout=120)  # release all twenty writers together (the timeout only guards a hang)
            return http.patch(f"/productos/{product['id']}", json={"stock": value})

    with ThreadPoolExecutor(max_workers=len(values)) as pool:
        responses = list(pool.map(patch, values))
    assert [r.status_code for r in responses] == [200] * len(values)
    assert sorted(r.json()["stock"] for r in responses) == values
    final = client.get(f"/productos/{product['id']}").json()["stock"]
    assert final in values
    assert search(client, product["name"])[0]["stock"] == final  # the index agrees with the database
    after = revision(client)
    assert after > before
    assert after >= before + len(values)  # every PATCH changed the stock, so each claimed a revision
    assert client.get("/health").json()["index"]["products"] == len(SAMPLE_PRODUCTS) + 1
