"""/admin/pedidos over real HTTP: a real `python -m server` seeded by `python -m manage setup` (conftest live_server).

Orders are placed the way the chat places them (data.orders.place_order) on the server's own SQLite file, with
products each test creates through the API (unique SKUs, retired afterwards).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from data import orders
from data.customer_details import OrderDetails
from data.db import create_engine, session_factory, write_session
from tests.conftest import LiveServer
from tests.integration.test_api_http import assert_spanish, unique_sku

DETAILS = OrderDetails(
    name="Marta Ruiz",
    email="marta@correo.es",
    phone="+34 600 111 222",
    address_line="Avenida del Puerto 3",
    postal_code="46021",
    city="València",
    shipping_cost=Decimal("4.95"),
    payment_method="bizum",
    channel="playground",
)


@pytest.fixture
def product(client: httpx.Client, admin: dict[str, str]) -> Iterator[dict[str, Any]]:
    body = {"sku": unique_sku(), "name": "Tetera de hierro fundido", "category": "Cocina", "price": "12.50", "stock": 6}
    response = client.post("/productos", json=body, headers=admin)
    assert response.status_code == 201, response.text
    yield response.json()
    client.delete(f"/productos/{response.json()['id']}", headers=admin)


def place(live_server: LiveServer, product_id: int, quantity: int, details: OrderDetails | None = DETAILS) -> int:
    """An order placed on the server's database, as the chat does it."""
    database = Path(live_server.env["VAR_DIR"]) / "agente.db"

    async def run() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            async with write_session(session_factory(engine)) as session:
                thread = f"api-{unique_sku()}"
                await orders.add_to_cart(session, thread_id=thread, product_id=product_id, quantity=quantity)
                order, _lines = await orders.place_order(session, thread_id=thread, details=details)
                return order.id or 0
        finally:
            await engine.dispose()

    return asyncio.run(run())


# --------------------------------------------------------------------------- the key


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "clave-equivocada"}, {"X-API-Key": ""}], ids=["sin", "mala", "vacia"]
)
def test_without_a_valid_key_every_route_is_401_and_nothing_changes(
    client: httpx.Client,
    admin: dict[str, str],
    live_server: LiveServer,
    product: dict[str, Any],
    headers: dict[str, str],
) -> None:
    order_id = place(live_server, product["id"], 1)
    responses = [
        client.get("/admin/pedidos", headers=headers),
        client.get("/admin/pedidos", params={"formato": "csv"}, headers=headers),
        client.get(f"/admin/pedidos/{order_id}", headers=headers),
        client.patch(f"/admin/pedidos/{order_id}", json={"estado": "cancelado"}, headers=headers),
        client.patch(f"/admin/pedidos/{order_id}", json={"estado": "nada"}, headers=headers),  # 401 before 422
    ]
    for response in responses:
        assert response.status_code == 401, response.text
        assert_spanish(response.json()["detail"], "X-API-Key")
        assert response.headers["WWW-Authenticate"] == "X-API-Key"
    order = client.get(f"/admin/pedidos/{order_id}", headers=admin).json()
    assert order["status"] == "confirmado" and len(order["events"]) == 1
    assert client.get(f"/productos/{product['id']}").json()["stock"] == 5


# --------------------------------------------------------------------------- reading


def test_one_order_with_details_lines_and_history(
    client: httpx.Client, admin: dict[str, str], live_server: LiveServer, product: dict[str, Any]
) -> None:
    order_id = place(live_server, product["id"], 2)
    response = client.get(f"/admin/pedidos/{order_id}", headers=admin)
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["id"] == order_id and order["status"] == "confirmado"
    assert (order["subtotal"], order["shipping_cost"], order["total"]) == ("25.00", "4.95", "29.95")
    assert (order["customer_name"], order["customer_phone"], order["province"]) == (
        "Marta Ruiz",
        "+34600111222",
        "Valencia/València",
    )
    assert (order["delivery_method"], order["payment_method"], order["channel"]) == ("envio", "bizum", "playground")
    assert [(line["sku"], line["quantity"], line["line_total"]) for line in order["lines"]] == [
        (product["sku"], 2, "25.00")
    ]
    assert [(e["from_status"], e["to_status"], e["actor"]) for e in order["events"]] == [
        (None, "confirmado", "cliente")
    ]
    assert order["next_statuses"] == ["enviado", "entregado", "cancelado"]
    missing = client.get("/admin/pedidos/999999", headers=admin)
    assert missing.status_code == 404
    assert_spanish(missing.json()["detail"], "No existe el pedido 999999")
    assert client.get("/admin/pedidos/0", headers=admin).status_code == 422


def test_the_list_filters_pages_and_refuses_bad_filters_in_spanish(
    client: httpx.Client, admin: dict[str, str], live_server: LiveServer, product: dict[str, Any]
) -> None:
    ids = [place(live_server, product["id"], 1) for _ in range(3)]
    assert client.patch(f"/admin/pedidos/{ids[0]}", json={"estado": "enviado"}, headers=admin).status_code == 200
    page = client.get("/admin/pedidos", params={"limit": 2}, headers=admin).json()
    assert page["limit"] == 2 and page["offset"] == 0 and page["total"] >= 3
    assert [row["id"] for row in page["items"]] == [ids[2], ids[1]]  # newest first
    assert page["items"][0]["units"] == 1 and page["items"][0]["line_count"] == 1
    assert "lines" not in page["items"][0]
    next_page = client.get("/admin/pedidos", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert next_page["items"][0]["id"] == ids[0]
    shipped = client.get("/admin/pedidos", params={"estado": "enviado"}, headers=admin).json()
    assert ids[0] in [row["id"] for row in shipped["items"]]
    assert all(row["status"] == "enviado" for row in shipped["items"])
    today = client.get(f"/admin/pedidos/{ids[0]}", headers=admin).json()["created_at"][:10]
    same_day = client.get("/admin/pedidos", params={"desde": today, "hasta": today}, headers=admin).json()
    assert set(ids) <= {row["id"] for row in same_day["items"]}
    later = client.get("/admin/pedidos", params={"desde": "2999-01-01"}, headers=admin).json()
    assert later["total"] == 0 and later["items"] == []
    for params, fragment in (
        ({"estado": "shipped"}, "los estados son: pendiente, confirmado, enviado, entregado, cancelado"),
        ({"desde": "ayer"}, "desde: la fecha no es válida"),
        ({"hasta": "2026-13-45"}, "hasta: la fecha no es válida"),
        ({"desde": "2026-12-09", "hasta": "2026-12-01"}, "anterior a «hasta»"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"formato": "xml"}, "formato"),
    ):
        response = client.get("/admin/pedidos", params=params, headers=admin)
        assert response.status_code == 422, (params, response.text)
        assert_spanish(response.json()["detail"], fragment)


def test_csv_has_one_row_per_order(
    client: httpx.Client, admin: dict[str, str], live_server: LiveServer, product: dict[str, Any]
) -> None:
    ids = [place(live_server, product["id"], 1), place(live_server, product["id"], 2, details=None)]
    by_param = client.get("/admin/pedidos", params={"formato": "csv", "limit": 2}, headers=admin)
    by_header = client.get("/admin/pedidos", params={"limit": 2}, headers={**admin, "Accept": "text/csv"})
    for response in (by_param, by_header):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "pedidos.csv" in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [int(row["pedido"]) for row in rows] == ids[::-1]
        newest, older = rows
        assert (newest["estado"], newest["total"], newest["cliente"], newest["unidades"]) == (
            "confirmado",
            "25.00",
            "",
            "2",
        )
        assert (older["cliente"], older["telefono"], older["codigo_postal"], older["envio"]) == (
            "Marta Ruiz",
            "+34600111222",
            "46021",
            "4.95",
        )
        assert older["total"] == "17.45" and older["fecha"].endswith("+00:00")
    as_json = client.get("/admin/pedidos", params={"limit": 1}, headers={**admin, "Accept": "application/json"})
    assert as_json.headers["content-type"].startswith("application/json")


# --------------------------------------------------------------------------- moving on


def test_patch_moves_the_order_on_and_refuses_what_the_lifecycle_forbids(
    client: httpx.Client, admin: dict[str, str], live_server: LiveServer, product: dict[str, Any]
) -> None:
    order_id = place(live_server, product["id"], 1)
    url = f"/admin/pedidos/{order_id}"
    shipped = client.patch(url, json={"estado": "enviado", "nota": "Correos PK123"}, headers=admin)
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert body["status"] == "enviado" and body["next_statuses"] == ["entregado"]
    assert [(e["from_status"], e["to_status"], e["actor"], e["note"]) for e in body["events"]][-1] == (
        "confirmado",
        "enviado",
        "tienda",
        "Correos PK123",
    )
    refused = client.patch(url, json={"estado": "cancelado"}, headers=admin)
    assert refused.status_code == 409
    assert_spanish(refused.json()["detail"], "está enviado y no puede pasar a cancelado")
    stale = client.patch(url, json={"estado": "entregado", "estado_actual": "confirmado"}, headers=admin)
    assert stale.status_code == 409
    assert_spanish(stale.json()["detail"], "ya no está confirmado: ahora está enviado")
    for bad in (
        {"estado": "perdido"},
        {},
        {"estado": "entregado", "color": "rojo"},
        {"estado": "entregado", "nota": "x" * 501},
        {"estado": 3},
    ):
        response = client.patch(url, json=bad, headers=admin)
        assert response.status_code == 422, (bad, response.text)
        assert_spanish(response.json()["detail"])
    broken = client.patch(url, content=b"{no es json", headers={**admin, "content-type": "application/json"})
    assert broken.status_code == 400
    unknown = client.patch("/admin/pedidos/999999", json={"estado": "enviado"}, headers=admin)
    assert unknown.status_code == 404
    assert_spanish(unknown.json()["detail"], "No existe el pedido 999999")
    after = client.get(url, headers=admin).json()
    assert after["status"] == "enviado" and len(after["events"]) == 2  # nothing refused was written
    delivered = client.patch(url, json={"estado": "ENTREGADO"}, headers=admin)
    assert delivered.status_code == 200 and delivered.json()["next_statuses"] == []


def test_cancelling_through_the_api_returns_the_stock(
    client: httpx.Client, admin: dict[str, str], live_server: LiveServer, product: dict[str, Any]
) -> None:
    order_id = place(live_server, product["id"], 4)
    response = client.patch(
        f"/admin/pedidos/{order_id}", json={"estado": "cancelado", "nota": "Sin pago"}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelado"
    assert client.get(f"/productos/{product['id']}").json()["stock"] == 6
    again = client.patch(f"/admin/pedidos/{order_id}", json={"estado": "cancelado"}, headers=admin)
    assert again.status_code == 409
    assert_spanish(again.json()["detail"], "ya está cancelado")
    assert client.get(f"/productos/{product['id']}").json()["stock"] == 6
