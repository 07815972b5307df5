"""Reading a catalogue file into header names and records: CSV (any delimiter, UTF-8 or cp1252), JSON, JSONL, XLSX.

What the columns mean is decided elsewhere (data/formats.py, data/importer.py); here only the bytes are read.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

Records = Iterator[tuple[int, dict[str, Any]]]  # (row number as the owner sees it, column -> value)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (unreadable, wrong format, a required column missing)."""


def read_records(path: Path) -> tuple[list[str], Records]:
    """Headers and (row number, record) pairs of a CSV, JSON, JSONL or XLSX file, chosen by extension."""
    if not path.is_file():
        raise ImportFileError(f"No existe el fichero {path}")
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _xlsx(path)
    text = _read_text(path)
    if suffix == ".json":
        return _json(text)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl(text)
    if suffix in (".csv", ".tsv", ".txt"):
        return _csv(text, tab=suffix == ".tsv")
    raise ImportFileError(f"Formato no admitido «{path.suffix}»: usa .csv, .xlsx, .json o .jsonl")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("No se pudo leer el fichero: guárdalo en UTF-8")


def _json(text: str) -> tuple[list[str], Records]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"El JSON está mal formado (línea {exc.lineno}, columna {exc.colno})") from exc
    if isinstance(data, dict):
        data = data.get("products") or data.get("productos") or data.get("items")
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ImportFileError('El JSON debe ser una lista de productos (objetos) o {"products": [...]}')
    return _json_headers(data), iter(enumerate(data, start=1))


def _jsonl(text: str) -> tuple[list[str], Records]:
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


def _csv(text: str, *, tab: bool) -> tuple[list[str], Records]:
    sample = text[:20000]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if tab else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise ImportFileError("El fichero CSV está vacío") from exc
    _unique(headers)

    def rows() -> Records:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            number = reader.line_num
            if len(row) != len(headers):
                yield number, {"__error__": f"tiene {len(row)} columnas y la cabecera {len(headers)}"}
                continue
            yield number, dict(zip(headers, row, strict=True))

    return headers, rows()


def _xlsx(path: Path) -> tuple[list[str], Records]:
    """The first sheet with data (or one called Productos): its first non-empty row is the header."""
    from openpyxl import load_workbook  # imported here: only .xlsx files need it, and it is slow to import

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError("No se pudo leer el Excel: guárdalo de nuevo como .xlsx") from exc
    sheets = sorted(book.worksheets, key=lambda s: s.title.casefold() not in ("productos", "products"))
    table: list[tuple[int, list[Any]]] = []
    for sheet in sheets:
        numbered = enumerate(sheet.iter_rows(values_only=True), start=1)
        table = [(n, list(r)) for n, r in numbered if any(_cell(c) for c in r)]
        if table:
            break
    book.close()
    if not table:
        raise ImportFileError("El Excel no tiene datos")
    header_row, first = table[0]
    headers = [_cell(c) for c in first]
    while headers and not headers[-1]:
        headers.pop()
    if not all(headers):
        raise ImportFileError(f"La cabecera del Excel (fila {header_row}) tiene columnas sin nombre")
    _unique(headers)

    def rows() -> Records:
        for number, values in table[1:]:
            yield number, {h: _value(v) for h, v in zip(headers, values, strict=False)}

    return headers, rows()


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _value(value: Any) -> Any:
    """Excel cells as the importer reads them: numbers stay numbers, dates become ISO text, empty is ""."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unique(headers: list[str]) -> None:
    if len(set(headers)) != len(headers):
        raise ImportFileError("El fichero tiene columnas con el mismo nombre")


def _json_headers(records: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(key for record in records for key in record))
