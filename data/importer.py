"""Catalogue import: Shopify and WooCommerce exports as they come, or any spreadsheet (CSV, XLSX, JSON, JSONL).

A file is first read and validated completely. Every problem is reported at once (row, column, reason in plain
Spanish), counted by row; nothing is written unless the caller chooses to skip the bad rows. A clean set of
products is upserted in one transaction. Columns customers must not see are stored as private attributes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from data.errors import FIELD_NAMES, spanish_reason
from data.formats import (
    FORMATS,
    SourceRow,
    blank,
    category_paths,
    clean_text,
    detect,
    header_key,
    shopify_roles,
    shopify_rows,
    woocommerce_roles,
    woocommerce_rows,
)
from data.lexicon import fold
from data.lexicon import load as load_lexicon
from data.models import ProductCreate
from data.readers import ImportFileError, Records, read_records
from data.types import parse_money

__all__ = ["ImportFileError", "ImportPlan", "RowError", "header_key", "parse_price", "plan_import", "read_records"]

FIELDS = tuple(f for f in FIELD_NAMES if f not in ("message", "thread_id", "categories"))  # what a column can feed
REQUIRED = ("sku", "name", "category", "price")
MAX_ERRORS_SHOWN = 200


@lru_cache(maxsize=1)
def _columns() -> dict[str, Any]:
    return load_lexicon("columns")


def aliases() -> dict[str, tuple[str, ...]]:
    """Header spellings of each field (data/lexicon/columns.json), in order of preference."""
    return {name: tuple(spellings) for name, spellings in _columns().get("aliases", {}).items()}


def is_public(column: str, public_columns: Iterable[str] = ()) -> bool:
    """Whether an unmapped column may be shown to customers: named so (--public-column) or known public by its words.

    A column is private when any of its words says so (cost, supplier, notes) and when nothing says it is public.
    """
    key = header_key(column)
    if key in {header_key(c) for c in public_columns}:
        return True
    words = set(key.split("_")) | {key}
    words |= {w[:-2] for w in words if w.endswith("es")} | {w[:-1] for w in words if w.endswith("s")}
    if words & set(_columns().get("private", [])):
        return False
    return bool(words & set(_columns().get("public", [])))


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one row, worded for the person who made the file."""

    row: int  # CSV: line number in the file (header = 1); XLSX: sheet row; JSON/JSONL: 1-based record number
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"fila {self.row}"
        if self.column:
            where += f", columna «{self.column}»"
        return f"{where}: {self.reason}"


@dataclass
class ImportPlan:
    """A validated file: the products to upsert, the rows that cannot be, and how the columns were read."""

    path: Path
    mapping: dict[str, str]  # field -> column (generic files)
    attribute_columns: list[str]  # unmapped columns shown to customers
    format: str = "generic"
    roles: dict[str, str] = field(default_factory=dict)  # column -> what it feeds, for the dry run
    private_columns: list[str] = field(default_factory=list)
    products: list[ProductCreate] = field(default_factory=list)
    # Per product, the fields the file really gave: an existing product keeps everything else (its stock is
    # not reset by --default-stock, its description not wiped by an empty cell).
    provided: list[frozenset[str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rejected: list[tuple[dict[str, Any], list[RowError]]] = field(default_factory=list)  # the bad rows as read
    headers: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({e.row for e in self.errors})


def parse_price(raw: Any) -> Decimal:
    """Read prices the way people write them (see data.types.parse_money)."""
    return parse_money(raw)


def parse_stock(raw: Any) -> int:
    """Whole units, accepting "12", "12.0" and Spanish thousands ("1.200")."""
    if isinstance(raw, bool):
        raise ValueError("no es un número de unidades")
    if isinstance(raw, int):
        return raw
    text = str(raw).strip()
    if all(part.isdigit() for part in text.lstrip("-").split(".")) and text.count(".") >= 1:
        groups = text.lstrip("-").split(".")
        if len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
            text = text.replace(".", "")
    try:
        value = Decimal(text.replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(f"«{raw}» no es un número de unidades") from exc
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"«{raw}» no es un número entero de unidades")
    return int(value)


def parse_bool(raw: Any) -> bool:
    """Yes/no in Spanish or English, as spreadsheets write it."""
    if isinstance(raw, bool):
        return raw
    text = fold(str(raw)).strip()
    if text in ("1", "si", "s", "true", "t", "yes", "y", "verdadero", "activo", "publicado", "publish"):
        return True
    if text in ("0", "no", "n", "false", "f", "falso", "inactivo", "-1", "borrador", "draft", "private"):
        return False
    raise ValueError(f"«{raw}» no es sí/no")


# ---------------------------------------------------------------------------- mapping & validation


def resolve_mapping(headers: list[str], explicit: Mapping[str, str]) -> dict[str, str]:
    """Field -> column: explicit --map first, then aliases. Raises ImportFileError naming what is wrong."""
    unknown = [f for f in explicit if f not in FIELDS]
    if unknown:
        raise ImportFileError(f"Campo desconocido en --map: {', '.join(unknown)} (campos: {', '.join(FIELDS)})")
    by_key = {header_key(h): h for h in headers}
    mapping: dict[str, str] = {}
    for name, column in explicit.items():
        if column not in headers:
            column = by_key.get(header_key(column), column)
        if column not in headers:
            raise ImportFileError(
                f"--map {name}={column}: la columna «{column}» no existe (columnas: {', '.join(headers)})"
            )
        mapping[name] = column
    taken = set(mapping.values())
    for name, spellings in aliases().items():
        if name in mapping or name not in FIELDS:
            continue
        found = next((by_key[a] for a in spellings if a in by_key and by_key[a] not in taken), None)
        if found is not None:
            mapping[name] = found
            taken.add(found)
    return mapping


def plan_import(
    path: Path,
    *,
    explicit_map: Mapping[str, str] | None = None,
    default_stock: int | None = None,
    progress: Callable[[int], None] | None = None,
    file_format: str = "auto",
    public_columns: Iterable[str] = (),
) -> ImportPlan:
    """Read and validate the whole file without touching the database."""
    if file_format not in ("auto", *FORMATS):
        raise ImportFileError(f"Formato desconocido «{file_format}»: usa auto, {', '.join(FORMATS)}")
    if default_stock is not None and default_stock < 0:
        raise ImportFileError("--default-stock no puede ser negativo")
    headers, records = read_records(path)
    chosen = detect(headers) if file_format == "auto" else file_format
    plan = ImportPlan(path=path, mapping={}, attribute_columns=[], format=chosen, headers=headers)
    if chosen == "shopify":
        rows: Iterator[SourceRow] = shopify_rows(headers, records)
        plan.roles = shopify_roles(headers)
    elif chosen == "woocommerce":
        rows = woocommerce_rows(headers, records)
        plan.roles = woocommerce_roles(headers)
    else:
        rows = _generic(plan, headers, records, explicit_map or {}, default_stock, list(public_columns))
    shown = {header_key(c) for c in public_columns}
    if chosen != "generic":  # --public-column for a platform's column: an attribute under its own name
        plan.roles |= {h: "atributo público" for h in headers if header_key(h) in shown}
    plan.private_columns = [h for h, role in plan.roles.items() if role == "privado"]
    seen_skus: dict[str, int] = {}
    for source in rows:
        for column in [c for c in source.private if header_key(c) in shown]:
            source.attributes[column] = source.private.pop(column)
        plan.rows += 1
        if progress:
            progress(1)
        product, provided, errors = _validate(source, default_stock)
        if product is not None:
            first = seen_skus.setdefault(product.sku, source.row)
            if first != source.row:
                repeated = f"SKU «{product.sku}» repetido (ya está en la fila {first})"
                errors.append(RowError(source.row, source.columns.get("sku"), repeated))
        if errors:
            plan.errors.extend(errors)
            plan.rejected.append((source.record, errors))
        elif product is not None:
            plan.products.append(product)
            plan.provided.append(provided)
    if plan.rows == 0:
        raise ImportFileError("El fichero no tiene ningún producto")
    return plan


def _generic(
    plan: ImportPlan,
    headers: list[str],
    records: Records,
    explicit_map: Mapping[str, str],
    default_stock: int | None,
    public_columns: list[str],
) -> Iterator[SourceRow]:
    """A spreadsheet whose columns are found by their names (aliases, --map); the rest become attributes."""
    mapping = resolve_mapping(headers, explicit_map)
    missing = [f for f in REQUIRED if f not in mapping]
    if missing:
        names = ", ".join(FIELD_NAMES[f] for f in missing)
        raise ImportFileError(
            f"Faltan columnas obligatorias: {names}. Columnas del fichero: {', '.join(headers)}. "
            "Indica cuál usar con --map CAMPO=COLUMNA (por ejemplo --map price=pvp)."
        )
    if "stock" not in mapping and default_stock is None:
        raise ImportFileError(
            "El fichero no tiene columna de existencias (stock): indica cuál usar con --map stock=COLUMNA "
            "o pon unas existencias iniciales con --default-stock N."
        )
    plan.mapping = mapping
    mapped = set(mapping.values())
    plan.attribute_columns = [h for h in headers if h not in mapped and is_public(h, public_columns)]
    plan.roles = {h: FIELD_NAMES.get(next((f for f, c in mapping.items() if c == h), ""), "") for h in headers}
    for h in headers:
        if h not in mapped:
            plan.roles[h] = "atributo público" if h in plan.attribute_columns else "privado"
    return _generic_rows(records, mapping, set(plan.attribute_columns))


def _generic_rows(records: Records, mapping: dict[str, str], public: set[str]) -> Iterator[SourceRow]:
    mapped = set(mapping.values())
    for number, record in records:
        if "__error__" in record:
            yield SourceRow(number, {}, {}, record=record, error=str(record["__error__"]))
            continue
        values = {name: record.get(column) for name, column in mapping.items()}
        attributes = {header_key(c) or c: _strip(v) for c, v in record.items() if c in public and not blank(v)}
        private = {c: _strip(v) for c, v in record.items() if c not in mapped and c not in public and not blank(v)}
        category = _strip(values.get("category"))
        # "Cabello > Champú, Ofertas" is a list of paths; "Aceite, especias y salsas" is one category's name
        paths = (category_paths(category) if ">" in str(category) else [[str(category)]]) if not blank(category) else []
        if paths and not blank(values.get("subcategory")):
            paths[0] = [*paths[0], _strip(values["subcategory"])]
        yield SourceRow(number, values, dict(mapping), attributes, private, paths, record=record)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "price": parse_price,
    "regular_price": parse_price,
    "stock": parse_stock,
    "active": parse_bool,
}


def _parse_values(source: SourceRow) -> tuple[dict[str, Any], list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name, raw in source.values.items():
        if blank(raw):
            continue
        column = source.columns.get(name)
        try:
            if name in _PARSERS:
                values[name] = _PARSERS[name](raw)
            elif name == "attributes":
                parsed = json.loads(raw) if isinstance(raw, str) else raw
                if not isinstance(parsed, dict):
                    raise ValueError("debe ser un objeto JSON")
                values[name] = parsed
            elif name == "description":
                values[name] = clean_text(raw)
            else:
                values[name] = raw.strip() if isinstance(raw, str) else str(raw)
        except json.JSONDecodeError:
            errors.append(RowError(source.row, column, "JSON mal formado"))
        except ValueError as exc:
            errors.append(RowError(source.row, column, str(exc)))
    if "price" not in values and "regular_price" in values:
        values["price"] = values.pop("regular_price")  # a sale price column left empty: the regular price
    if "regular_price" in source.columns and "regular_price" not in values and not errors:
        values["regular_price"] = None  # the file says when a sale ends: re-importing it ends the sale
    return values, errors


def _validate(
    source: SourceRow, default_stock: int | None
) -> tuple[ProductCreate | None, frozenset[str], list[RowError]]:
    """The product a row describes, the fields it really gave, and every problem with it at once."""
    if source.error:
        return None, frozenset(), [RowError(source.row, None, source.error)]
    values, errors = _parse_values(source)
    if source.categories:
        main = source.categories[0]
        values["category"] = main[0]
        if len(main) > 1:
            values.setdefault("subcategory", main[-1])
        values["categories"] = [" > ".join(path) for path in source.categories]
    attributes = {**dict(values.get("attributes") or {}), **source.attributes}
    if attributes or "attributes" in source.values:
        values["attributes"] = attributes
    if source.private:
        values["private"] = dict(source.private)
    provided = frozenset(values)
    stock_unreadable = any(e.column == source.columns.get("stock") for e in errors)
    if "stock" not in values and not stock_unreadable:
        if default_stock is None:
            reason = "faltan las existencias (usa --default-stock N para darles un valor)"
            errors.append(RowError(source.row, source.columns.get("stock"), reason))
        else:
            values["stock"] = default_stock  # for new products only: see ImportPlan.provided
    # Validate what could be read even when something could not, so every problem shows at once.
    failed = {name for name, column in source.columns.items() if any(e.column == column for e in errors)}
    checked = {k: v for k, v in values.items() if k not in failed}
    stand_in = {"price": Decimal(0), "stock": 0, "sku": "X", "name": "X", "category": "X"}
    checked |= {k: v for k, v in stand_in.items() if k in failed}
    try:
        product = ProductCreate.model_validate(checked)
    except ValidationError as exc:
        errors.extend(_model_errors(source, exc))
        return None, provided, errors
    return (None if errors else product), provided, errors


def _model_errors(source: SourceRow, exc: ValidationError) -> list[RowError]:
    errors = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err.get("loc") else ""
        where: str | None = source.columns.get(name) or FIELD_NAMES.get(name, name) or None
        missing = err["type"] == "missing"
        reason = f"falta el dato «{FIELD_NAMES.get(name, name)}»" if missing else spanish_reason(err)
        errors.append(RowError(source.row, where, reason))
    return errors
