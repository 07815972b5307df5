"""Plain-Spanish wording for validation errors, shared by the importer and the HTTP API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Field names as a store owner reads them.
FIELD_NAMES = {
    "sku": "sku",
    "name": "nombre",
    "description": "descripción",
    "category": "categoría",
    "subcategory": "subcategoría",
    "brand": "marca",
    "price": "precio",
    "regular_price": "precio normal",
    "categories": "categorías",
    "currency": "moneda",
    "stock": "existencias",
    "active": "activo",
    "attributes": "atributos",
    "message": "mensaje",
    "thread_id": "conversación",
}


def field_label(location: Sequence[Any]) -> str:
    """The last meaningful part of a pydantic error location, in Spanish when we know it."""
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    if not parts:
        return "petición"
    return FIELD_NAMES.get(parts[-1], parts[-1])


def spanish_reason(error: Mapping[str, Any]) -> str:
    """Translate one pydantic error into a short Spanish sentence."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    message = str(error.get("msg", ""))
    match kind:
        case "missing":
            return "falta este dato"
        case "string_too_short":
            return (
                "no puede estar vacío"
                if ctx.get("min_length") == 1
                else f"es demasiado corto (mínimo {ctx.get('min_length')} caracteres)"
            )
        case "string_too_long":
            return f"es demasiado largo (máximo {ctx.get('max_length')} caracteres)"
        case "greater_than_equal":
            return f"debe ser mayor o igual que {ctx.get('ge')}"
        case "greater_than":
            return f"debe ser mayor que {ctx.get('gt')}"
        case "less_than_equal":
            return f"debe ser menor o igual que {ctx.get('le')}"
        case "less_than":
            return f"debe ser menor que {ctx.get('lt')}"
        case "int_parsing" | "int_type" | "int_from_float":
            return "debe ser un número entero"
        case "decimal_parsing" | "decimal_type" | "float_parsing" | "float_type":
            return "debe ser un número"
        case "finite_number":
            return "debe ser un número finito"
        case "decimal_max_places":
            return "admite como máximo dos decimales"
        case "decimal_max_digits" | "decimal_whole_digits":
            return "es un número demasiado grande"
        case "bool_parsing" | "bool_type":
            return "debe ser sí o no (true/false)"
        case "dict_type" | "model_type" | "model_attributes_type":
            return "debe ser un objeto JSON"
        case "string_type":
            return "debe ser un texto"
        case "json_invalid":
            return "el JSON está mal formado"
        case "extra_forbidden":
            return "este campo no existe"
        case "value_error" | "assertion_error":
            return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        case "literal_error" | "enum":
            return f"valor no admitido (opciones: {ctx.get('expected', '')})"
    return message


def describe(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """[{campo, motivo}] for an API response body."""
    return [{"campo": field_label(e.get("loc", ())), "motivo": spanish_reason(e)} for e in errors]
