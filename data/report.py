"""What an import tells the shop owner: how the file was read, how customers will see it, and every problem.

The dry run is the owner's chance to catch a wrong reading (a "Type" column taken as the subcategory, a cost
column about to be shown) before anything changes, so it prints the column mapping and three products as a
customer would see them. Rejected rows can be written beside the input, with the reason, to be fixed and
imported again.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from data.formats import FORMAT_NAMES
from data.importer import MAX_ERRORS_SHOWN, ImportPlan, RowError
from data.models import ProductCreate
from data.types import format_euros

SAMPLES = 3


def customer_view(product: ProductCreate) -> list[str]:
    """A product as the assistant will show it: name, price (and the price before a sale), stock, where it lives."""
    price = format_euros(product.price)
    if product.regular_price is not None:
        price += f" (antes {format_euros(product.regular_price)}, de oferta)"
    stock = f"{product.stock} en stock" if product.stock > 0 else "agotado"
    lines = [f"{product.name}: {price} · {stock}" + ("" if product.active else " · NO SE VENDE (borrador/oculto)")]
    where = " | ".join(product.categories) or " > ".join(p for p in (product.category, product.subcategory) if p)
    if product.subcategory and product.subcategory not in where:
        where += f" · tipo: {product.subcategory}"
    lines.append(f"   categoría: {where}" + (f" · marca: {product.brand}" if product.brand else ""))
    if product.attributes:
        shown = ", ".join(f"{k}: {v}" for k, v in list(product.attributes.items())[:5])
        lines.append(f"   atributos: {shown}")
    if product.description:
        text = " ".join(product.description.split())
        lines.append(f"   «{text[:140]}{'…' if len(text) > 140 else ''}»")
    return lines


def describe(plan: ImportPlan) -> list[str]:
    """How the file was read: format, which column feeds what, public and private columns, sample products."""
    lines = [f"Formato detectado: {FORMAT_NAMES.get(plan.format, plan.format)}."]
    lines.append("Columnas del fichero:")
    used = {header: role for header, role in plan.roles.items() if role != "privado"}
    width = min(max((len(h) for h in used), default=0), 40)
    lines += [f"  {header.ljust(width)} → {role or 'no se usa'}" for header, role in used.items()]
    if plan.private_columns:
        lines.append(
            f"Privadas (solo para ti, nunca se muestran a clientes): {', '.join(plan.private_columns)}. "
            "Para mostrar alguna usa --public-column NOMBRE."
        )
    sellable = [p for p in plan.products if p.active] or plan.products
    heads = {p.name.split(" — ")[0]: p for p in reversed(sellable)}  # one per product, not three sizes of one
    sellable = sorted(heads.values(), key=lambda p: (p.regular_price is None, plan.products.index(p)))
    if sellable:
        lines.append(f"Así lo verán los clientes ({min(SAMPLES, len(sellable))} de {len(plan.products)} productos):")
        for number, product in enumerate(sellable[:SAMPLES], start=1):
            first, *rest = customer_view(product)
            lines += [f"  {number}. {first}", *(f"  {line}" for line in rest)]
    inactive = sum(1 for p in plan.products if not p.active)
    if inactive:
        lines.append(f"{inactive} producto(s) se importan sin ponerse a la venta (borradores, privados u ocultos).")
    return lines


def problems(plan: ImportPlan) -> list[str]:
    """Every problem at once, grouped by row, counted by row."""
    if plan.ok:
        return ["Sin problemas: todas las filas se pueden importar."]
    by_row: dict[int, list[RowError]] = defaultdict(list)
    for error in plan.errors:
        by_row[error.row].append(error)
    lines = [f"{len(by_row)} fila(s) con problemas de {plan.rows}:"]
    for error in plan.errors[:MAX_ERRORS_SHOWN]:
        lines.append(f"  - {error}")
    if len(plan.errors) > MAX_ERRORS_SHOWN:
        lines.append(f"  ... y {len(plan.errors) - MAX_ERRORS_SHOWN} problemas más.")
    return lines


def write_rejected(plan: ImportPlan) -> Path | None:
    """The bad rows as the file had them, plus a «problema» column, beside the input: fix them and import again."""
    if not plan.rejected:
        return None
    target = plan.path.with_name(f"{plan.path.stem}.rechazadas.csv")
    headers = [h for h in plan.headers if not h.startswith("__")] + ["problema"]
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=headers, extrasaction="ignore")
        writer.writeheader()
        for record, errors in plan.rejected:
            reasons = "; ".join(f"{e.column + ': ' if e.column else ''}{e.reason}" for e in errors)
            writer.writerow({**{h: record.get(h, "") for h in plan.headers}, "problema": reasons})
    return target
