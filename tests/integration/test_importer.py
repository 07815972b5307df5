"""data/importer.py and crud.upsert_products: parsing, header mapping, row errors, all-or-nothing, upsert by SKU."""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from data import crud
from data.db import create_engine, session_factory, write_session
from data.importer import ImportFileError, ImportPlan, parse_bool, parse_price, parse_stock, plan_import
from data.migrate import upgrade
from data.models import ProductCreate
from tests.conftest import SHARED

MERCADONA = SHARED / "mercadona" / "mercadona_products_all.csv"
MERCADONA_MAP = {"sku": "product_id", "price": "price_eur", "category": "category_l1", "subcategory": "category_l2"}

Sessions = async_sessionmaker[AsyncSession]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def by_sku(plan: ImportPlan) -> dict[str, ProductCreate]:
    return {p.sku: p for p in plan.products}


# ---------------------------------------------------------------------------- value parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("24.00", "24.00"),
        ("24,00", "24.00"),
        ("1.299,00", "1299.00"),
        ("1,299.00", "1299.00"),
        ("24 €", "24"),
        ("€24", "24"),
        (" 19,99 EUR ", "19.99"),
        (5, "5"),
        (3.5, "3.5"),
        (19.99, "19.99"),  # no binary-float residue: Decimal(19.99) would be 19.98999...
        ("-3", "-3"),  # parsed; ProductCreate refuses it later (see the bad-rows test)
    ],
)
def test_parse_price_reads_the_usual_spellings_exactly(raw: Any, expected: str) -> None:
    value = parse_price(raw)
    assert isinstance(value, Decimal)
    assert value == Decimal(expected)


@pytest.mark.parametrize("raw", ["abc", "", "   ", "12abc", "1,299,00", True])
def test_parse_price_refuses_non_prices(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_price(raw)


@pytest.mark.parametrize("raw", ["0,500", "0.500"])
def test_parse_price_never_reads_a_leading_zero_as_thousands(raw: str) -> None:
    # A thousands group cannot follow a lone 0: this is half a euro with three decimals, never 500 €.
    try:
        value = parse_price(raw)
    except ValueError:
        return  # refusing the ambiguous value is acceptable
    assert value < 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (7, 7), ("12.0", 12), (" 3 ", 3), ("2,0", 2), ("1.500", 1500), (12.0, 12), ("0", 0)],
)
def test_parse_stock_reads_whole_units(raw: Any, expected: int) -> None:
    value = parse_stock(raw)
    assert type(value) is int
    assert value == expected


@pytest.mark.parametrize("raw", ["1.5", "1,5", "abc", "", "nan", True])
def test_parse_stock_refuses_fractions_and_words(raw: Any) -> None:
    with pytest.raises(ValueError):
        parse_stock(raw)


@pytest.mark.parametrize("raw", [True, "1", "sí", "SÍ", "si", "true", "yes", "Activo"])
def test_parse_bool_true(raw: Any) -> None:
    assert parse_bool(raw) is True


@pytest.mark.parametrize("raw", [False, "0", "no", "NO", "false", "Falso", "inactivo"])
def test_parse_bool_false(raw: Any) -> None:
    assert parse_bool(raw) is False


@pytest.mark.parametrize("raw", ["quizá", "", "2"])
def test_parse_bool_refuses_other_words(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_bool(raw)


# ---------------------------------------------------------------------------- header mapping


def test_spanish_headers_map_automatically_and_extras_become_attributes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "es.csv",
        "nombre;precio;categoria;marca;existencias;referencia;Color Principal;Peso (kg)\n"
        'Zapatilla Running;"1.299,50";Calzado;Joma;12;ab-1;rojo;0,8\n'
        "Balón;24,00;Deporte;Adidas;3;ab-2;blanco;0,4\n",
    )
    plan = plan_import(path)
    assert plan.ok, plan.errors
    assert plan.mapping == {
        "sku": "referencia",
        "name": "nombre",
        "category": "categoria",
        "brand": "marca",
        "price": "precio",
        "stock": "existencias",
    }
    assert plan.attribute_columns == ["Color Principal", "Peso (kg)"]
    products = by_sku(plan)
    assert set(products) == {"AB-1", "AB-2"}  # SKUs are stored upper-case
    shoe = products["AB-1"]
    assert (shoe.name, shoe.category, shoe.brand, shoe.stock) == ("Zapatilla Running", "Calzado", "Joma", 12)
    assert shoe.price == Decimal("1299.50")
    assert shoe.attributes == {"color_principal": "rojo", "peso_kg": "0,8"}  # key = header_key(column)
    assert products["AB-2"].price == Decimal("24.00")


def test_english_headers_map_automatically(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "en.csv",
        "sku,name,description,category,subcategory,brand,price,currency,stock,active,colour\n"
        "B-1,Road bike,Light and fast,Sport,Cycling,Orbea,999.90,EUR,3,yes,red\n"
        "B-2,Helmet,,Sport,Cycling,Abus,49.90,EUR,10,no,white\n",
    )
    plan = plan_import(path)
    assert plan.ok, plan.errors
    fields = ("sku", "name", "description", "category", "subcategory", "brand", "price", "currency", "stock", "active")
    assert plan.mapping == {f: f for f in fields}
    assert plan.attribute_columns == ["colour"]
    bike, helmet = by_sku(plan)["B-1"], by_sku(plan)["B-2"]
    assert (bike.description, bike.subcategory, bike.brand, bike.active) == ("Light and fast", "Cycling", "Orbea", True)
    assert bike.price == Decimal("999.90")
    assert bike.attributes == {"colour": "red"}
    assert helmet.active is False
    assert helmet.description == ""


def test_other_aliases_with_accents_and_units_are_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, "alias.csv", "Código,Título,Familia,Precio (EUR),Unidades\nx1,Taza,Hogar,4.50,9\n")
    plan = plan_import(path)
    assert plan.mapping == {
        "sku": "Código",
        "name": "Título",
        "category": "Familia",
        "price": "Precio (EUR)",
        "stock": "Unidades",
    }
    assert plan.products[0].price == Decimal("4.50")


def test_explicit_map_wins_over_aliases(tmp_path: Path) -> None:
    path = write(tmp_path, "pvp.csv", "sku,nombre,categoria,precio,pvp,existencias\nP1,Camiseta,Ropa,10.00,12.50,4\n")
    by_alias = plan_import(path)
    assert by_alias.mapping["price"] == "precio"
    assert by_alias.products[0].price == Decimal("10.00")
    # an unmapped column nothing says is public stays with the owner
    assert by_alias.products[0].attributes == {}
    assert by_alias.products[0].private == {"pvp": "12.50"}

    explicit = plan_import(path, explicit_map={"price": "pvp"})
    assert explicit.mapping["price"] == "pvp"
    assert explicit.products[0].price == Decimal("12.50")
    assert explicit.products[0].private == {"precio": "10.00"}  # the displaced alias column is kept, privately


def test_explicit_map_matches_headers_loosely(tmp_path: Path) -> None:
    path = write(tmp_path, "loose.csv", "sku,nombre,categoria,PVP (€),existencias\nP1,Camiseta,Ropa,7.25,4\n")
    plan = plan_import(path, explicit_map={"price": "pvp"})
    assert plan.mapping["price"] == "PVP (€)"
    assert plan.products[0].price == Decimal("7.25")


def test_map_naming_a_missing_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "sku,nombre,categoria,precio,existencias\nP1,Camiseta,Ropa,10.00,4\n")
    with pytest.raises(ImportFileError) as excinfo:
        plan_import(path, explicit_map={"price": "importe_total"})
    message = str(excinfo.value)
    assert "importe_total" in message
    assert "no existe" in message


def test_map_naming_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "sku,nombre,categoria,precio,existencias\nP1,Camiseta,Ropa,10.00,4\n")
    with pytest.raises(ImportFileError) as excinfo:
        plan_import(path, explicit_map={"colour": "nombre"})
    message = str(excinfo.value)
    assert "Campo desconocido" in message
    assert "colour" in message


def test_missing_required_columns_are_named_in_spanish(tmp_path: Path) -> None:
    path = write(tmp_path, "short.csv", "nombre,existencias\nCamiseta,3\n")
    with pytest.raises(ImportFileError) as excinfo:
        plan_import(path)
    assert "Faltan columnas obligatorias: sku, categoría, precio." in str(excinfo.value)


def test_no_stock_column_needs_default_stock(tmp_path: Path) -> None:
    path = write(tmp_path, "nostock.csv", "sku,nombre,categoria,precio\nP1,Camiseta,Ropa,10.00\nP2,Gorra,Ropa,8\n")
    with pytest.raises(ImportFileError, match="--default-stock"):
        plan_import(path)
    plan = plan_import(path, default_stock=7)
    assert plan.ok
    assert [p.stock for p in plan.products] == [7, 7]
    with pytest.raises(ImportFileError, match="no puede ser negativo"):
        plan_import(path, default_stock=-1)


GAPS_CSV = "sku,nombre,categoria,precio,stock\nP1,Camiseta,Ropa,10.00,\nP2,Gorra,Ropa,8,2\n"


def test_blank_stock_cell_takes_the_default_stock(tmp_path: Path) -> None:
    plan = plan_import(write(tmp_path, "gaps.csv", GAPS_CSV), default_stock=5)
    assert [(p.sku, p.stock) for p in plan.products] == [("P1", 5), ("P2", 2)]


def test_blank_stock_cell_without_default_is_a_row_error(tmp_path: Path) -> None:
    plan = plan_import(write(tmp_path, "gaps.csv", GAPS_CSV))
    assert [(e.row, e.column) for e in plan.errors] == [(2, "stock")]
    assert "--default-stock" in plan.errors[0].reason


def test_empty_and_header_only_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="vacío"):
        plan_import(write(tmp_path, "empty.csv", ""))
    with pytest.raises(ImportFileError, match="ningún producto"):
        plan_import(write(tmp_path, "header.csv", "sku,nombre,categoria,precio,existencias\n"))
    with pytest.raises(ImportFileError, match="No se pudo leer el Excel"):
        plan_import(write(tmp_path, "catalogue.xlsx", "x"))
    with pytest.raises(ImportFileError, match="Formato no admitido"):
        plan_import(write(tmp_path, "catalogue.ods", "x"))
    with pytest.raises(ImportFileError, match="No existe"):
        plan_import(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------- row errors

BAD_CSV = (
    "sku,nombre,categoria,precio,existencias,descripcion\n"  # line 1
    "A1,Camiseta,Ropa,10.00,5,básica\n"  # line 2: fine
    'A6,Calcetines,Ropa,3.00,10,"dos\n'  # lines 3-4: fine, a quoted field spanning two lines
    'líneas"\n'
    "A2,Pantalón,Ropa,-3,5,\n"  # line 5: negative price
    "A3,,Ropa,12.00,5,\n"  # line 6: empty name
    "\n"  # line 7: blank, skipped
    "A4,Gorra,Ropa,8.00,muchas,\n"  # line 8: stock is not a number
    "a1,Camiseta bis,Ropa,9.00,2,\n"  # line 9: same SKU as line 2 (SKUs compare upper-case)
    "A5,Bufanda,Ropa\n"  # line 10: three cells for six columns
    "A7,Guantes,Ropa,4.00,1,\n"  # line 11: fine
)


def test_every_bad_row_is_reported_with_line_column_and_spanish_reason(tmp_path: Path) -> None:
    plan = plan_import(write(tmp_path, "bad.csv", BAD_CSV))
    assert not plan.ok
    assert plan.rows == 8
    assert [(e.row, e.column, e.reason) for e in plan.errors] == [
        (5, "precio", "debe ser mayor o igual que 0"),
        (6, "nombre", "falta el dato «nombre»"),
        (8, "existencias", "«muchas» no es un número de unidades"),
        (9, "sku", "SKU «A1» repetido (ya está en la fila 2)"),
        (10, None, "tiene 3 columnas y la cabecera 6"),
    ]
    assert str(plan.errors[0]) == "fila 5, columna «precio»: debe ser mayor o igual que 0"
    assert str(plan.errors[-1]) == "fila 10: tiene 3 columnas y la cabecera 6"
    assert sorted(by_sku(plan)) == ["A1", "A6", "A7"]  # validated, but the plan as a whole is refused
    assert by_sku(plan)["A6"].description == "dos\nlíneas"


def test_infinite_stock_is_a_row_error_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, "inf.csv", "sku,nombre,categoria,precio,existencias\nP1,Camiseta,Ropa,10.00,Infinity\n")
    plan = plan_import(path)
    assert [(e.row, e.column) for e in plan.errors] == [(2, "existencias")]


# ---------------------------------------------------------------------------- JSON and JSONL

JSON_PRODUCTS = [
    {
        "referencia": "j-1",
        "nombre": "Taza",
        "categoria": "Hogar",
        "precio": 4.5,
        "existencias": 3,
        "color": "azul",
        "atributos": {"material": "cerámica"},
    },
    {"referencia": "j-2", "nombre": "Plato", "categoria": "Hogar", "precio": "3,20", "existencias": "12"},
]


def assert_json_products(plan: ImportPlan) -> None:
    assert plan.ok, plan.errors
    products = by_sku(plan)
    assert products["J-1"].price == Decimal("4.50")
    assert products["J-1"].stock == 3
    assert products["J-1"].attributes == {"material": "cerámica", "color": "azul"}
    assert products["J-2"].price == Decimal("3.20")
    assert products["J-2"].stock == 12
    assert products["J-2"].attributes == {}


def test_json_array_imports(tmp_path: Path) -> None:
    plan = plan_import(write(tmp_path, "p.json", json.dumps(JSON_PRODUCTS, ensure_ascii=False)))
    assert_json_products(plan)


def test_json_object_with_products_key_imports(tmp_path: Path) -> None:
    plan = plan_import(write(tmp_path, "p.json", json.dumps({"products": JSON_PRODUCTS}, ensure_ascii=False)))
    assert_json_products(plan)


def test_jsonl_imports_skipping_blank_lines(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(p, ensure_ascii=False) for p in JSON_PRODUCTS).replace("\n", "\n\n")
    assert_json_products(plan_import(write(tmp_path, "p.jsonl", text + "\n")))


def test_json_bad_record_is_reported_by_record_number(tmp_path: Path) -> None:
    records = [*JSON_PRODUCTS, {"referencia": "j-3", "nombre": "Vaso", "categoria": "Hogar", "precio": -1}]
    plan = plan_import(write(tmp_path, "p.json", json.dumps(records)), default_stock=1)
    assert [(e.row, e.column) for e in plan.errors] == [(3, "precio")]


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '[\n  {"sku": "A", "name": "x"},\n  {"sku": "B",}\n]\n')
    with pytest.raises(ImportFileError, match=r"mal formado \(línea 3,"):
        plan_import(path)


def test_json_that_is_not_a_product_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="lista de productos"):
        plan_import(write(tmp_path, "bad.json", '{"catalogue": [{"sku": "A"}]}'))


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    good = json.dumps(JSON_PRODUCTS[0], ensure_ascii=False)
    with pytest.raises(ImportFileError, match="Línea 3 del JSONL mal formada"):
        plan_import(write(tmp_path, "bad.jsonl", f"{good}\n\n{{'sku': 'B'}}\n"))
    with pytest.raises(ImportFileError, match="Línea 2 del JSONL: se esperaba un objeto"):
        plan_import(write(tmp_path, "list.jsonl", f"{good}\n[1, 2]\n"))


def test_jsonl_with_unicode_line_separator_inside_a_string(tmp_path: Path) -> None:
    record = {"sku": "U1", "name": "Taza\u2028grande", "category": "Hogar", "price": 4.5, "stock": 2}
    plan = plan_import(write(tmp_path, "u.jsonl", json.dumps(record, ensure_ascii=False) + "\n"))
    assert plan.ok
    assert plan.products[0].name == "Taza grande"


# ---------------------------------------------------------------------------- database: upsert, all-or-nothing

CLEAN_CSV = (
    "sku,nombre,categoria,precio,existencias\n"
    "C1,Camiseta,Ropa,19.99,5\n"
    "C2,Pantalón,Ropa,34.50,3\n"
    "C3,Gorra,Ropa,8.00,12\n"
    "C4,Bufanda,Ropa,12.95,7\n"
    "C5,Guantes,Ropa,1.299,2\n"  # Spanish thousands: 1299 €
)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'catalogue.db'}")
    try:
        await upgrade(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def import_into(
    sessions: Sessions, path: Path, *, chunk: int = 500
) -> tuple[ImportPlan, crud.UpsertCounts | None]:
    """What `python -m manage import` does with a file: validate everything, write only a clean plan, in one go."""
    plan = plan_import(path)
    if not plan.ok:
        return plan, None
    async with write_session(sessions) as session:
        counts = await crud.upsert_products(session, products_in=plan.products, provided=plan.provided, chunk=chunk)
    return plan, counts


async def catalogue_state(sessions: Sessions) -> tuple[int, int, dict[str, tuple[Any, ...]]]:
    async with sessions() as session:
        products = await crud.all_products(session)
        return (
            await crud.count_products(session),
            await crud.get_revision(session),
            {p.sku: (p.name, p.price, p.stock, p.revision, p.updated_at) for p in products},
        )


async def test_upsert_by_sku_counts_revisions_and_exact_prices(tmp_path: Path, sessions: Sessions) -> None:
    path = write(tmp_path, "clean.csv", CLEAN_CSV)
    _, counts = await import_into(sessions, path, chunk=2)  # three chunks, still one revision
    assert counts == crud.UpsertCounts(created=5, updated=0, unchanged=0)
    count, revision, rows = await catalogue_state(sessions)
    assert (count, revision) == (5, 1)
    assert rows["C5"][1] == Decimal("1299.00")

    _, counts = await import_into(sessions, path, chunk=2)
    assert counts == crud.UpsertCounts(created=0, updated=0, unchanged=5)
    assert await catalogue_state(sessions) == (count, revision, rows)  # not even updated_at moved

    changed = write(
        tmp_path, "changed.csv", CLEAN_CSV.replace("C1,Camiseta,Ropa,19.99,5", 'C1,Camiseta,Ropa,"20,01",5')
    )
    _, counts = await import_into(sessions, changed, chunk=2)
    assert counts == crud.UpsertCounts(created=0, updated=1, unchanged=4)
    new_count, new_revision, new_rows = await catalogue_state(sessions)
    assert (new_count, new_revision) == (5, revision + 1)
    price = new_rows["C1"][1]
    assert price == Decimal("20.01")
    assert str(price) == "20.01"
    assert new_rows["C1"][3] == revision + 1
    assert {sku: row for sku, row in new_rows.items() if sku != "C1"} == {
        sku: row for sku, row in rows.items() if sku != "C1"
    }


async def test_file_with_one_bad_row_changes_nothing(tmp_path: Path, sessions: Sessions) -> None:
    _, counts = await import_into(sessions, write(tmp_path, "clean.csv", CLEAN_CSV))
    assert counts is not None
    before = await catalogue_state(sessions)

    # New prices for existing SKUs, a new SKU, and one bad row: nothing of it may land.
    mixed = (
        CLEAN_CSV.replace("19.99", "21.00").replace("34.50", "30.00")
        + "C6,Cinturón,Ropa,15.00,4\n"
        + "C7,Chaqueta,Ropa,-80.00,1\n"
    )
    plan, counts = await import_into(sessions, write(tmp_path, "mixed.csv", mixed))
    assert counts is None
    assert [(e.row, e.column) for e in plan.errors] == [(8, "precio")]
    assert len(plan.products) == 6  # six good rows were ready, and still none was written
    assert await catalogue_state(sessions) == before


async def test_upsert_failing_midway_rolls_back_the_whole_batch(tmp_path: Path, sessions: Sessions) -> None:
    await import_into(sessions, write(tmp_path, "clean.csv", CLEAN_CSV))
    before = await catalogue_state(sessions)
    plan = plan_import(write(tmp_path, "upd.csv", CLEAN_CSV.replace("19.99", "21.00") + "C6,Cinturón,Ropa,15.00,4\n"))
    broken = ProductCreate.model_construct(sku="C9", name="Roto", category="Ropa", price=Decimal("-1"), stock=1)
    with pytest.raises(ValidationError):
        async with write_session(sessions) as session:
            # chunk=2: the first chunks (an update and the new C6) are flushed before the last one fails
            await crud.upsert_products(session, products_in=[*plan.products, broken], chunk=2)
    assert await catalogue_state(sessions) == before


# ---------------------------------------------------------------------------- the real Mercadona file


def test_mercadona_file_validates_completely() -> None:
    assert MERCADONA.is_file(), f"dataset missing: {MERCADONA}"
    plan = plan_import(MERCADONA, explicit_map=MERCADONA_MAP, default_stock=25)
    assert plan.errors == []
    assert plan.rows == 5093
    assert len(plan.products) == 5093
    assert plan.mapping == {**MERCADONA_MAP, "name": "name"}
    assert plan.attribute_columns == ["category_l3", "package", "size", "price_unit"]
    assert plan.private_columns == ["scraped_date"]  # when the data was scraped is nothing for customers

    products = by_sku(plan)
    assert len(products) == 5093
    oil = products["MER-00001"]
    assert oil.name == "Aceite de oliva 0,4º Hacendado"
    assert oil.price == Decimal("24.00")
    assert (oil.category, oil.subcategory, oil.stock) == ("Aceite, especias y salsas", "Aceite, vinagre y sal", 25)
    assert oil.attributes["size"] == "5 L"
    assert oil.attributes["package"] == "Garrafa"

    # Every name and price survives the sniffed dialect exactly as the stdlib reads the file.
    with MERCADONA.open(encoding="utf-8", newline="") as handle:
        source = {row["product_id"]: row for row in csv.DictReader(handle)}
    assert {sku: p.name for sku, p in products.items()} == {
        sku: " ".join(row["name"].split()) for sku, row in source.items()
    }
    assert {sku: p.price for sku, p in products.items()} == {
        sku: Decimal(row["price_eur"]) for sku, row in source.items()
    }
    assert sum("," in p.name for p in plan.products) > 0


async def test_reimport_changes_only_what_the_file_gives(tmp_path: Path, sessions: Sessions) -> None:
    """A price list without stock, imported with --default-stock, must not reset the stock of known products."""
    first = write(tmp_path, "full.csv", "sku,name,category,price,stock,description\nR1,Reloj,Moda,50.00,7,De pulsera\n")
    plan = plan_import(first)
    async with write_session(sessions) as session:
        await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
    prices = write(
        tmp_path, "prices.csv", "sku,name,category,price,description\nR1,Reloj,Moda,45.00,\nR2,Radio,Hogar,9.99,\n"
    )
    plan = plan_import(prices, default_stock=25)
    assert plan.provided[0] == frozenset({"sku", "name", "category", "categories", "price"})
    async with write_session(sessions) as session:
        counts = await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
    assert counts == crud.UpsertCounts(created=1, updated=1, unchanged=0)
    async with sessions() as session:
        known = await crud.get_product_by_sku(session, sku="R1")
        new = await crud.get_product_by_sku(session, sku="R2")
    assert known is not None and new is not None
    assert (known.price, known.stock, known.description) == (Decimal("45.00"), 7, "De pulsera")
    assert new.stock == 25


async def test_reimport_without_the_sale_price_ends_the_sale(tmp_path: Path, sessions: Sessions) -> None:
    """A sale is over when the shop's file no longer has a sale price: the regular price is charged again."""
    header = "sku,nombre,categoria,precio_rebajado,precio_normal,existencias\n"
    on_sale = write(tmp_path, "sale.csv", header + "L1,Lomo,Ibéricos,19.90,24.50,9\n")
    over = write(tmp_path, "over.csv", header + "L1,Lomo,Ibéricos,,24.50,9\n")
    for path, price, regular in ((on_sale, "19.90", "24.50"), (over, "24.50", None)):
        plan = plan_import(path)
        async with write_session(sessions) as session:
            await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
        async with sessions() as session:
            product = await crud.get_product_by_sku(session, sku="L1")
        assert product is not None
        assert product.price == Decimal(price)
        assert product.regular_price == (None if regular is None else Decimal(regular))
