"""What a shop platform's export means: Shopify and WooCommerce product CSVs, recognised by their headers.

Each reader turns the file's records into `SourceRow`s, one per sellable product (a Shopify variant, a WooCommerce
simple product or variation), with the platform's conventions already applied: variants grouped under their
product and named after it, the sale price charged while set, drafts and unpublished products inactive,
out-of-stock flags respected, category paths split, HTML cleaned for customers. Columns customers must not see
(cost, supplier, meta, SEO, images) go to `private`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any

from data.lexicon import fold
from data.readers import Records

FORMATS = ("shopify", "woocommerce", "generic")
FORMAT_NAMES = {
    "shopify": "Shopify (exportación de productos; variantes agrupadas por Handle)",
    "woocommerce": "WooCommerce (exportación de productos; productos variables y variaciones)",
    "generic": "hoja de cálculo genérica",
}


@dataclass
class SourceRow:
    """One product as the file describes it, before validation: raw values named by product field."""

    row: int  # where the owner finds it (CSV line, spreadsheet row, JSON record)
    values: dict[str, Any]  # field -> raw value (sku, name, description, category, subcategory, brand, price, ...)
    columns: dict[str, str]  # field -> the column it came from, for error messages
    attributes: dict[str, Any] = field(default_factory=dict)  # shown to customers
    private: dict[str, Any] = field(default_factory=dict)  # for the owner only
    categories: list[list[str]] = field(default_factory=list)  # every category path, the main one first
    record: dict[str, Any] = field(default_factory=dict)  # the row as in the file (for the rejected-rows file)
    error: str | None = None  # the row cannot be read at all


def header_key(name: str) -> str:
    """Compare headers folded, with spaces, dots and dashes as underscores: "Precio (EUR)" -> "precio_eur"."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def detect(headers: list[str]) -> str:
    """shopify, woocommerce or generic, from the header names alone."""
    keys = {header_key(h) for h in headers}
    if keys & {"handle", "url_handle"} and keys & {"variant_price", "price"} and "title" in keys:
        return "shopify"
    woo_price = keys & {"regular_price", "precio_normal"}
    woo_shape = keys & {"parent", "superior", "in_stock", "existencias", "en_inventario"}
    if keys & {"type", "tipo"} and woo_price and woo_shape:
        return "woocommerce"
    return "generic"


# ---------------------------------------------------------------------------- text


class _Text(HTMLParser):
    BLOCKS = frozenset({"p", "br", "li", "ul", "ol", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def clean_text(raw: Any) -> str:
    """HTML, entities and line breaks written out as backslash-n, as plain text a customer can read."""
    text = str(raw or "").replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", " ")
    if "<" in text and ">" in text:
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def blank(value: Any) -> bool:
    """An empty cell: None or only spaces (0 and False are values)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def category_paths(raw: Any) -> list[list[str]]:
    """Category paths: "Cabello > Champú, Ofertas" -> [["Cabello", "Champú"], ["Ofertas"]]; escaped commas kept."""
    text = _text(raw).replace("\\,", "\x00")
    paths = []
    for part in text.split(","):
        levels = [level.replace("\x00", ",").strip() for level in part.split(">")]
        levels = [level for level in levels if level]
        if levels:
            paths.append(levels)
    return paths


# ---------------------------------------------------------------------------- columns by meaning


class Columns:
    """The file's columns found by meaning: `get("price")` is the value of whichever spelling the file uses."""

    def __init__(self, headers: list[str], spellings: dict[str, tuple[str, ...]]) -> None:
        by_key = {header_key(h): h for h in headers}
        self.found: dict[str, str] = {}
        for meaning, keys in spellings.items():
            column = next((by_key[k] for k in keys if k in by_key), None)
            if column is not None:
                self.found[meaning] = column
        self.used = set(self.found.values())

    def get(self, record: dict[str, Any], meaning: str) -> Any:
        column = self.found.get(meaning)
        return record.get(column) if column else None

    def column(self, meaning: str) -> str:
        return self.found.get(meaning, meaning)


def _private_rest(record: dict[str, Any], skip: set[str]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in skip and not blank(v)}


# ---------------------------------------------------------------------------- Shopify

SHOPIFY = {
    "handle": ("handle", "url_handle"),
    "title": ("title",),
    "body": ("body_html", "description"),
    "vendor": ("vendor",),
    "taxonomy": ("product_category",),
    "type": ("type",),
    "tags": ("tags",),
    "published": ("published", "published_on_online_store"),
    "status": ("status",),
    "sku": ("variant_sku", "sku"),
    "grams": ("variant_grams",),
    "tracker": ("variant_inventory_tracker",),
    "qty": ("variant_inventory_qty", "inventory_quantity"),
    "price": ("variant_price", "price"),
    "compare": ("variant_compare_at_price", "compare_at_price"),
    **{f"option{n}_name": (f"option{n}_name",) for n in (1, 2, 3)},
    **{f"option{n}_value": (f"option{n}_value",) for n in (1, 2, 3)},
}
_SHOPIFY_PUBLIC = ("title", "body", "vendor", "taxonomy", "type", "tags", "sku", "price", "compare", "qty", "grams")


def _yes(value: Any, default: bool = True) -> bool:
    text = _text(value).casefold()
    if not text:
        return default
    return text in ("true", "1", "yes", "si", "sí", "verdadero", "active", "activo")


def shopify_roles(headers: list[str]) -> dict[str, str]:
    """Column -> what it feeds, for the dry run."""
    cols = Columns(headers, SHOPIFY)
    names = {
        "title": "nombre", "body": "descripción (HTML limpiado)", "vendor": "marca", "taxonomy": "categoría",
        "type": "subcategoría", "tags": "atributo público «etiquetas»", "published": "activo (publicado)",
        "status": "activo (estado)", "sku": "SKU", "qty": "existencias", "price": "precio",
        "compare": "precio normal (si hay oferta)", "handle": "agrupa las variantes",
        "grams": "atributo público «peso»",
        **{f"option{n}_name": "nombre de la opción" for n in (1, 2, 3)},
        **{f"option{n}_value": "opción (atributo público y en el nombre)" for n in (1, 2, 3)},
    }  # fmt: skip
    return {h: names.get(next((m for m, c in cols.found.items() if c == h), ""), "privado") for h in headers}


def shopify_rows(headers: list[str], records: Records) -> Iterator[SourceRow]:
    """One row per variant; the product's own fields come from its first row, image-only rows are skipped."""
    cols = Columns(headers, SHOPIFY)
    product: dict[str, Any] = {}
    handle = None
    for number, record in records:
        if "__error__" in record:
            yield SourceRow(number, {}, {}, record=record, error=str(record["__error__"]))
            continue
        this = _text(cols.get(record, "handle"))
        if this != handle or not blank(cols.get(record, "title")):
            handle, product = this, record
        options = [(n, _text(cols.get(record, f"option{n}_value"))) for n in (1, 2, 3)]
        if all(blank(cols.get(record, m)) for m in ("sku", "price", "qty")) and not any(v for _, v in options):
            continue  # an image-only row
        yield _shopify_variant(number, cols, product, record, options)


def _shopify_variant(
    number: int, cols: Columns, product: dict[str, Any], record: dict[str, Any], options: list[tuple[int, str]]
) -> SourceRow:
    title = _text(cols.get(product, "title"))
    chosen = [(_text(cols.get(product, f"option{n}_name")) or f"Opción {n}", v) for n, v in options if v]
    chosen = [(k, v) for k, v in chosen if v.casefold() != "default title"]
    name = f"{title} — {' / '.join(v for _, v in chosen)}" if chosen else title
    status = _text(cols.get(product, "status")).casefold()
    active = _yes(cols.get(product, "published")) and status in ("", "active", "activo")
    values: dict[str, Any] = {
        "sku": cols.get(record, "sku"),
        "name": name,
        "description": clean_text(cols.get(product, "body")),
        "brand": cols.get(product, "vendor"),
        "price": cols.get(record, "price"),
        "regular_price": cols.get(record, "compare"),
        "active": active,
    }
    qty, tracked = cols.get(record, "qty"), _text(cols.get(record, "tracker"))
    if not blank(qty) or tracked:
        values["stock"] = qty if not blank(qty) else 0
    paths = category_paths(_text(cols.get(product, "taxonomy")).replace(",", "\\,"))
    kind = _text(cols.get(product, "type"))
    if kind and not paths:
        paths = [[kind]]
    attributes: dict[str, Any] = dict(chosen)
    if _text(cols.get(product, "tags")):
        attributes["etiquetas"] = _text(cols.get(product, "tags"))
    grams = _text(cols.get(record, "grams"))
    if grams and grams not in ("0", "0.0"):
        attributes["peso"] = f"{grams} g"
    used = {cols.found[m] for m in SHOPIFY if m in cols.found}
    private = _private_rest(record, used) | _private_rest(product, used | set(record))
    body = _text(cols.get(product, "body"))
    if body and body != values["description"]:
        private["descripcion_original"] = body
    columns = {
        "sku": cols.column("sku"), "name": cols.column("title"), "price": cols.column("price"),
        "regular_price": cols.column("compare"), "stock": cols.column("qty"), "brand": cols.column("vendor"),
        "description": cols.column("body"), "category": cols.column("taxonomy"),
    }  # fmt: skip
    if kind and paths and kind not in paths[0]:
        values["subcategory"] = kind
        columns["subcategory"] = cols.column("type")
    return SourceRow(number, values, columns, attributes, private, paths, record=record)


# ---------------------------------------------------------------------------- WooCommerce

WOO = {
    "id": ("id",),
    "type": ("type", "tipo"),
    "sku": ("sku",),
    "name": ("name", "nombre"),
    "published": ("published", "publicado"),
    "short": ("short_description", "descripcion_corta"),
    "description": ("description", "descripcion"),
    "sale_from": ("date_sale_price_starts", "dia_en_que_empieza_el_precio_rebajado"),
    "sale_to": ("date_sale_price_ends", "dia_en_que_termina_el_precio_rebajado"),
    "in_stock": ("in_stock", "existencias", "en_inventario"),
    "stock": ("stock", "inventario"),
    "sale": ("sale_price", "precio_rebajado"),
    "regular": ("regular_price", "precio_normal"),
    "categories": ("categories", "categorias"),
    "tags": ("tags", "etiquetas"),
    "parent": ("parent", "superior"),
    "brands": ("brands", "marcas"),
    "weight": ("weight_kg", "peso_kg"),
}
_ATTRIBUTE = re.compile(r"^(?:attribute_(\d+)_(name|value_s|visible)|(nombre)_del_atributo_(\d+)|"
                        r"(valor_es)_del_atributo_(\d+)|atributo_(visible)_(\d+))$")  # fmt: skip


def _woo_attribute_columns(headers: list[str]) -> dict[int, dict[str, str]]:
    """Attribute number -> {"name"|"value"|"visible": column}, in English or Spanish."""
    found: dict[int, dict[str, str]] = {}
    for header in headers:
        match = _ATTRIBUTE.match(header_key(header))
        if not match:
            continue
        groups = [g for g in match.groups() if g]
        number = int(next(g for g in groups if g.isdigit()))
        part = next(g for g in groups if not g.isdigit())
        role = {"name": "name", "nombre": "name", "value_s": "value", "valor_es": "value"}.get(part, "visible")
        found.setdefault(number, {})[role] = header
    return found


def woocommerce_roles(headers: list[str]) -> dict[str, str]:
    """Column -> what it feeds, for the dry run."""
    cols = Columns(headers, WOO)
    names = {
        "sku": "SKU", "name": "nombre", "published": "activo (publicado)", "description": "descripción (HTML limpiado)",
        "short": "descripción si falta la larga", "in_stock": "¿hay existencias? (0 = agotado)", "stock": "existencias",
        "sale": "precio (oferta, mientras esté puesta)", "regular": "precio normal", "categories": "categorías (árbol)",
        "tags": "atributo público «etiquetas»", "parent": "producto variable al que pertenece", "brands": "marca",
        "type": "tipo (simple, variable, variación)", "weight": "atributo público «peso»",
        "sale_from": "inicio de la oferta", "sale_to": "fin de la oferta",
    }  # fmt: skip
    roles = {h: names.get(next((m for m, c in cols.found.items() if c == h), ""), "privado") for h in headers}
    for attribute in _woo_attribute_columns(headers).values():
        for role, column in attribute.items():
            roles[column] = {"name": "nombre de atributo", "value": "atributo público"}.get(role, "atributo visible")
    return roles


def woocommerce_rows(headers: list[str], records: Records, today: date | None = None) -> Iterator[SourceRow]:
    """Simple products and variations; a variable product lends its name, categories and brand to its variations."""
    cols = Columns(headers, WOO)
    attribute_columns = _woo_attribute_columns(headers)
    used = set(cols.used) | {c for a in attribute_columns.values() for c in a.values()}
    rows = list(records)
    parents: dict[str, dict[str, Any]] = {}
    for _, record in rows:
        if _text(cols.get(record, "type")).casefold() in ("variable", "grouped"):
            if _text(cols.get(record, "id")):
                parents[f"id:{_text(cols.get(record, 'id'))}"] = record
            if _text(cols.get(record, "sku")):
                parents[_text(cols.get(record, "sku")).casefold()] = record
    for number, record in rows:
        if "__error__" in record:
            yield SourceRow(number, {}, {}, record=record, error=str(record["__error__"]))
            continue
        kinds = {k.strip() for k in _text(cols.get(record, "type")).casefold().split(",")}
        if kinds & {"variable", "grouped"}:
            continue  # not sold itself: its variations (or grouped products) are
        parent = parents.get(_text(cols.get(record, "parent")).casefold()) if "variation" in kinds else None
        if "variation" in kinds and parent is None:
            yield SourceRow(number, {}, {}, record=record, error="variación sin su producto variable en el fichero")
            continue
        yield _woo_product(number, cols, attribute_columns, used, record, parent, today or date.today())


def _woo_product(
    number: int,
    cols: Columns,
    attribute_columns: dict[int, dict[str, str]],
    used: set[str],
    record: dict[str, Any],
    parent: dict[str, Any] | None,
    today: date,
) -> SourceRow:
    base = parent or record

    def inherited(meaning: str) -> Any:
        own = cols.get(record, meaning)
        return own if not blank(own) else cols.get(base, meaning)

    attributes, hidden = _woo_attributes(attribute_columns, record)
    name = _text(cols.get(record, "name"))
    if parent is not None and attributes:
        name = f"{_text(cols.get(parent, 'name'))} — {' / '.join(str(v) for v in attributes.values())}"
    raw_description = _text(cols.get(record, "description")) or _text(cols.get(base, "description"))
    raw_description = raw_description or _text(cols.get(record, "short")) or _text(cols.get(base, "short"))
    sale, regular = cols.get(record, "sale"), cols.get(record, "regular")
    if not blank(sale) and not _sale_running(cols, record, today):
        sale = None
    active = _text(cols.get(record, "published")) in ("1", "") and _text(cols.get(base, "published")) in ("1", "")
    values: dict[str, Any] = {
        "sku": cols.get(record, "sku"),
        "name": name,
        "description": clean_text(raw_description),
        "brand": _text(inherited("brands")).split(",")[0].strip(),
        "price": sale if not blank(sale) else regular,
        "regular_price": regular if not blank(sale) else None,
        "active": active,
    }
    values.update(_woo_stock(cols, record))
    if not blank(inherited("tags")):
        attributes["etiquetas"] = _text(inherited("tags"))
    if not blank(cols.get(record, "weight")) and not any(fold(k) == "peso" for k in attributes):
        attributes["peso"] = f"{_text(cols.get(record, 'weight'))} kg"
    private = _private_rest(record, used) | hidden
    if raw_description and raw_description != values["description"]:
        private["descripcion_original"] = raw_description
    columns = {
        "sku": cols.column("sku"), "name": cols.column("name"), "price": cols.column("sale" if sale else "regular"),
        "regular_price": cols.column("regular"), "stock": cols.column("stock"), "brand": cols.column("brands"),
        "description": cols.column("description"), "category": cols.column("categories"),
        "active": cols.column("published"),
    }  # fmt: skip
    paths = category_paths(inherited("categories"))
    return SourceRow(number, values, columns, attributes, private, paths, record=record)


def _woo_attributes(attribute_columns: dict[int, dict[str, str]], record: dict[str, Any]) -> tuple[dict, dict]:
    shown: dict[str, Any] = {}
    hidden: dict[str, Any] = {}
    for number in sorted(attribute_columns):
        columns = attribute_columns[number]
        key, value = _text(record.get(columns.get("name", ""))), _text(record.get(columns.get("value", "")))
        if key and value:
            (hidden if _text(record.get(columns.get("visible", ""))) == "0" else shown)[key] = value
    return shown, hidden


def _sale_running(cols: Columns, record: dict[str, Any], today: date) -> bool:
    """A sale with dates counts only between them (WooCommerce schedules sales)."""
    for meaning, ok in (("sale_from", lambda d: d <= today), ("sale_to", lambda d: d >= today)):
        text = _text(cols.get(record, meaning))[:10]
        if text and not _check_date(text, ok):
            return False
    return True


def _check_date(text: str, ok: Callable[[date], bool]) -> bool:
    try:
        return ok(date.fromisoformat(text))
    except ValueError:
        return True  # an unreadable date does not cancel a sale the owner set


def _woo_stock(cols: Columns, record: dict[str, Any]) -> dict[str, Any]:
    """The stock count when there is one; an out-of-stock flag is 0 units, never a count of 1 or 10."""
    count, flag = cols.get(record, "stock"), _text(cols.get(record, "in_stock")).casefold()
    if not blank(count):
        return {"stock": count if flag not in ("0", "outofstock") else 0}
    if flag in ("0", "outofstock", "backorder", "onbackorder"):
        return {"stock": 0}
    return {}  # in stock without a count: --default-stock decides
