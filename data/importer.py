"""Catalogue import from CSV, JSON or JSONL: header aliases in Spanish and English, all-or-nothing, upsert by SKU.

A file is first read and validated completely. Any bad row means nothing is written and every problem is
reported (row, column, reason in plain Spanish). A clean file is upserted in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from data.errors import FIELD_NAMES, spanish_reason
from data.models import ProductCreate

FIELDS = tuple(FIELD_NAMES)  # the product fields a column can feed

# Header spellings recognised without --map, in order of preference (compared folded, spaces -> "_").
ALIASES: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "referencia", "ref", "codigo", "cod", "code", "product_id", "id_producto", "reference", "id"),
    "name": ("nombre", "name", "producto", "product", "titulo", "title", "product_name", "product_title"),
    "description": ("descripcion", "description", "desc", "detalle", "details"),
    "category": ("categoria", "category", "familia", "seccion", "departamento", "department"),
    "subcategory": ("subcategoria", "subcategory", "subfamilia", "tipo", "type"),
    "brand": ("marca", "brand", "fabricante", "manufacturer"),
    "price": ("precio", "price", "pvp", "precio_eur", "price_eur", "importe", "precio_venta"),
    "currency": ("moneda", "currency", "divisa"),
    "stock": ("existencias", "stock", "inventario", "unidades", "cantidad", "quantity", "qty"),
    "active": ("activo", "active", "habilitado", "enabled"),
    "attributes": ("atributos", "attributes"),
}
REQUIRED = ("sku", "name", "category", "price")
MAX_ERRORS_SHOWN = 200


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, wrong format, a required column missing)."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one row, worded for the person who made the file."""

    row: int  # CSV: line number in the file (header = 1); JSON/JSONL: 1-based record number
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"fila {self.row}"
        if self.column:
            where += f", columna «{self.column}»"
        return f"{where}: {self.reason}"


@dataclass
class ImportPlan:
    """A validated file: the products to upsert, or the errors that stop it."""

    path: Path
    mapping: dict[str, str]  # field -> column
    attribute_columns: list[str]
    products: list[ProductCreate] = field(default_factory=list)
    # Per product, the fields the file really gave: an existing product keeps everything else (its stock is
    # not reset by --default-stock, its description not wiped by an empty cell).
    provided: list[frozenset[str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def fold(text: str) -> str:
    """Lower-case without accents, for comparing headers and yes/no words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def header_key(name: str) -> str:
    """Compare headers folded, with spaces, dots and dashes as underscores: "Precio (EUR)" -> "precio_eur"."""
    return re.sub(r"[^a-z0-9]+", "_", fold(name)).strip("_")


def parse_price(raw: Any) -> Decimal:
    """Read prices the way people write them: 24.00, 24,00, 1.299,00, 1,299.00, "24 €", "€24"."""
    if isinstance(raw, bool):
        raise ValueError("no es un precio")
    if isinstance(raw, int | float | Decimal):
        return Decimal(str(raw))
    text = str(raw).strip().replace("€", "").replace("EUR", "").replace("eur", "").replace("\u00a0", "")
    text = text.replace(" ", "")
    if not text:
        raise ValueError("falta el precio")
    negative = text.startswith("-")
    text = text.lstrip("+-")
    if not re.fullmatch(r"[0-9.,]+", text):
        raise ValueError(f"«{raw}» no es un precio válido")
    if "," in text and "." in text:
        decimal_sep = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        text = text.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        grouped = len(tail) == 3 and bool(head) and not head.startswith("0")  # "0,500" is half a euro
        text = text.replace(",", "") if grouped else text.replace(",", ".")
    elif text.count(".") > 1 or re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", text):
        text = text.replace(".", "")  # 1.299 (Spanish thousands); a price never has three decimals
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"«{raw}» no es un precio válido") from exc
    return -value if negative else value


def parse_stock(raw: Any) -> int:
    """Whole units, accepting "12", "12.0" and Spanish thousands ("1.200")."""
    if isinstance(raw, bool):
        raise ValueError("no es un número de unidades")
    if isinstance(raw, int):
        return raw
    text = (
        str(raw).strip().replace(".", "")
        if re.fullmatch(r"-?\d{1,3}(\.\d{3})+", str(raw).strip())
        else str(raw).strip()
    )
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
    if text in ("1", "si", "s", "true", "t", "yes", "y", "verdadero", "activo"):
        return True
    if text in ("0", "no", "n", "false", "f", "falso", "inactivo"):
        return False
    raise ValueError(f"«{raw}» no es sí/no")


# ---------------------------------------------------------------------------- reading


def read_records(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """Headers and (row number, record) pairs of a CSV, JSON or JSONL file, chosen by extension."""
    if not path.is_file():
        raise ImportFileError(f"No existe el fichero {path}")
    suffix = path.suffix.lower()
    text = _read_text(path)
    if suffix in (".json",):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"El JSON está mal formado (línea {exc.lineno}, columna {exc.colno})") from exc
        if isinstance(data, dict):
            data = data.get("products") or data.get("productos") or data.get("items")
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise ImportFileError('El JSON debe ser una lista de productos (objetos) o {"products": [...]}')
        return _json_headers(data), iter(enumerate(data, start=1))
    if suffix in (".jsonl", ".ndjson"):
        records: list[dict[str, Any]] = []
        # Only "\n" ends a record: splitlines() would also cut at U+2028/U+0085, legal inside JSON strings.
        for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFileError(f"Línea {number} del JSONL mal formada: {exc.msg}") from exc
            if not isinstance(record, dict):
                raise ImportFileError(f"Línea {number} del JSONL: se esperaba un objeto")
            records.append(record)
        return _json_headers(records), iter(enumerate(records, start=1))
    if suffix in (".csv", ".tsv", ".txt"):
        sample = text[:20000]
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel_tab if suffix == ".tsv" else csv.excel
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        try:
            headers = [h.strip() for h in next(reader)]
        except StopIteration as exc:
            raise ImportFileError("El fichero CSV está vacío") from exc
        if len(set(headers)) != len(headers):
            raise ImportFileError("El CSV tiene columnas con el mismo nombre")

        def rows() -> Iterator[tuple[int, dict[str, Any]]]:
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                number = reader.line_num
                if len(row) != len(headers):
                    yield number, {"__error__": f"tiene {len(row)} columnas y la cabecera {len(headers)}"}
                    continue
                yield number, dict(zip(headers, row, strict=True))

        return headers, rows()
    raise ImportFileError(f"Formato no admitido «{path.suffix}»: usa .csv, .json o .jsonl")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("No se pudo leer el fichero: guárdalo en UTF-8")


def _json_headers(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record))


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
    for name, aliases in ALIASES.items():
        if name in mapping:
            continue
        for alias in aliases:
            found = by_key.get(alias)
            if found is not None and found not in taken:
                mapping[name] = found
                taken.add(found)
                break
    return mapping


def plan_import(
    path: Path,
    *,
    explicit_map: Mapping[str, str] | None = None,
    default_stock: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Read and validate the whole file without touching the database."""
    headers, records = read_records(path)
    mapping = resolve_mapping(headers, explicit_map or {})
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
    if default_stock is not None and default_stock < 0:
        raise ImportFileError("--default-stock no puede ser negativo")
    mapped_columns = set(mapping.values())
    attribute_columns = [h for h in headers if h not in mapped_columns]
    plan = ImportPlan(path=path, mapping=mapping, attribute_columns=attribute_columns)
    seen_skus: dict[str, int] = {}
    for number, record in records:
        plan.rows += 1
        if progress:
            progress(1)
        if "__error__" in record:
            plan.errors.append(RowError(number, None, str(record["__error__"])))
            continue
        product, provided, errors = _validate_record(number, record, mapping, attribute_columns, default_stock)
        if product is not None:
            first = seen_skus.setdefault(product.sku, number)
            if first != number:
                errors.append(
                    RowError(number, mapping["sku"], f"SKU «{product.sku}» repetido (ya está en la fila {first})")
                )
                product = None
        plan.errors.extend(errors)
        if product is not None and not errors:
            plan.products.append(product)
            plan.provided.append(provided)
    if plan.rows == 0:
        raise ImportFileError("El fichero no tiene ningún producto")
    return plan


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _validate_record(
    number: int,
    record: Mapping[str, Any],
    mapping: Mapping[str, str],
    attribute_columns: list[str],
    default_stock: int | None,
) -> tuple[ProductCreate | None, frozenset[str], list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name, column in mapping.items():
        raw = record.get(column)
        if _blank(raw):
            continue
        try:
            match name:
                case "price":
                    values[name] = parse_price(raw)
                case "stock":
                    values[name] = parse_stock(raw)
                case "active":
                    values[name] = parse_bool(raw)
                case "attributes":
                    parsed = json.loads(raw) if isinstance(raw, str) else raw
                    if not isinstance(parsed, dict):
                        raise ValueError("debe ser un objeto JSON")
                    values[name] = parsed
                case _:
                    values[name] = str(raw).strip() if not isinstance(raw, str) else raw
        except (ValueError, json.JSONDecodeError) as exc:
            errors.append(
                RowError(number, column, str(exc) if not isinstance(exc, json.JSONDecodeError) else "JSON mal formado")
            )
    attributes = dict(values.get("attributes") or {})
    for column in attribute_columns:
        raw = record.get(column)
        if not _blank(raw):
            attributes[header_key(column) or column] = raw.strip() if isinstance(raw, str) else raw
    if attributes or attribute_columns:
        values["attributes"] = attributes
    provided = frozenset(values)
    stock_unreadable = any(e.column == mapping.get("stock") for e in errors)
    if "stock" not in values and not stock_unreadable:
        if default_stock is None:
            reason = "faltan las existencias (usa --default-stock N para darles un valor)"
            errors.append(RowError(number, mapping.get("stock"), reason))
        else:
            values["stock"] = default_stock  # for new products only: see ImportPlan.provided
    if errors:
        return None, provided, errors
    try:
        return ProductCreate.model_validate(values), provided, []
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err.get("loc") else ""
            where: str | None = mapping.get(name) or FIELD_NAMES.get(name, name) or None
            if err["type"] == "missing":
                reason = f"falta el dato «{FIELD_NAMES.get(name, name)}»"
            else:
                reason = spanish_reason(err)
            errors.append(RowError(number, where, reason))
        return None, provided, errors
