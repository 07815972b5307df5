"""A shop owner bringing their own catalogue with `python -m manage`: demo out of the way, dry run, bad rows, reset.

Real subprocesses and SQLite files; the customer's side is checked through the real chat service.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from state import SearchFilters
from tests.integration.test_cli import query, run

EXPORTS = Path(__file__).parent.parent / "fixtures" / "exports"


def active_skus(var_dir: Path) -> set[str]:
    return {row[0] for row in query(var_dir, "SELECT sku FROM product WHERE active")}


def chat(var_dir: Path, *messages: str) -> list[str]:
    """The assistant's replies to one customer, in process, on a copy of the shop."""
    from evals.targets import InProcessTarget

    async def talk() -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            target = InProcessTarget("offline", var_dir, Path(tmp))
            async with target.session() as session:
                return [(await session.turn(m, "cliente-1"))["reply"] for m in messages]

    return asyncio.run(talk())


def search(var_dir: Path, words: str, category: str) -> list[str]:
    from evals.targets import InProcessTarget

    async def find() -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            target = InProcessTarget("offline", var_dir, Path(tmp))
            async with target.session() as session:
                hits = await session.catalog.search(words, filters=SearchFilters(category=category))
                return [h.item.sku for h in hits]

    return asyncio.run(find())


@pytest.fixture(scope="module")
def demo_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make run` leaves on a new machine: the sample catalogue, marked as demo."""
    var_dir = tmp_path_factory.mktemp("demo") / "var"
    done = run(var_dir, "setup")
    assert done.returncode == 0, done.stderr
    return var_dir


def copy_of(shop: Path, tmp_path: Path) -> Path:
    target = tmp_path / "var"
    shutil.copytree(shop, target)
    return target


def test_dry_run_shows_format_mapping_private_columns_and_samples(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    before = query(var_dir, "SELECT count(*), sum(active) FROM product")
    done = run(var_dir, "import", str(EXPORTS / "woocommerce_en.csv"), "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Formato detectado: WooCommerce" in out
    assert "Regular price" in out and "→ precio normal" in out
    assert "Privadas (solo para ti" in out and "Meta: _cost_price" in out
    assert out.count("€") >= 3 and "Así lo verán los clientes (3 de 15" in out
    assert "de oferta" in out  # the product on sale is among the samples, with its price before
    assert "se retirarían los 268 productos de ejemplo" in out
    assert query(var_dir, "SELECT count(*), sum(active) FROM product") == before


def test_first_real_import_retires_the_demo_and_customers_get_the_shops_prices(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    demo = active_skus(var_dir)
    assert len(demo) >= 200
    done = run(var_dir, "import", str(EXPORTS / "electro_semicolon.csv"))
    assert done.returncode == 0, done.stderr
    assert "Retirados los" in done.stdout
    assert active_skus(var_dir) & demo == set()
    assert len(active_skus(var_dir)) == 12
    price, bought = chat(var_dir, "¿cuánto cuesta el televisor LG OLED evo 65?", "¿qué coste tiene para la tienda?")
    assert "1.649,00 €" in price and "1.799" not in price  # the shop's TV, not the demo's; the note stays private
    for secret in ("Levante", "1.312,40", "1312", "1.599"):  # supplier, cost, internal notes
        assert secret not in price and secret not in bought


def test_keep_demo_keeps_the_examples(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    demo = active_skus(var_dir)
    done = run(var_dir, "import", str(EXPORTS / "papeleria.xlsx"), "--keep-demo")
    assert done.returncode == 0, done.stderr
    assert demo <= active_skus(var_dir)
    assert "PAP-0011" not in active_skus(var_dir)  # Activo "No"


def test_sale_price_drafts_and_category_tree_reach_customers(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    done = run(var_dir, "import", str(EXPORTS / "woocommerce_es.csv"))
    assert done.returncode == 0, done.stderr
    rows: dict[str, Any] = dict(query(var_dir, "SELECT sku, active FROM product WHERE sku IN ('LOM-IBE-500')"))
    assert rows == {"LOM-IBE-500": 1}
    lomo, offers, cheese, this_one, draft, add_draft = chat(
        var_dir,
        "¿cuánto cuesta el lomo embuchado ibérico de bellota?",
        "¿qué tenéis de oferta?",
        "¿qué quesos tenéis con descuento?",
        "¿y el lomo embuchado está rebajado?",
        "¿tenéis turrón de Jijona?",  # a draft: not for sale
        "añade un turrón de jijona calidad suprema al carrito",
    )
    assert "9,75" not in draft and "9,75" not in add_draft
    assert "carrito suma" not in add_draft.lower() and "añadid" not in add_draft.lower()
    assert "19,90 €" in lomo and "antes 24,50 €" in lomo
    assert "Lomo embuchado" in offers and "antes 24,50 €" in offers and "Queso" not in offers
    assert "no tengo quesos de oferta" in cheese
    assert this_one.startswith("Sí") and "antes 24,50 €" in this_one
    drafts = {row[0] for row in query(var_dir, "SELECT sku FROM product WHERE NOT active")}
    assert drafts and not drafts & active_skus(var_dir)
    # "Ibéricos > Jamón y paleta > Loncheados": filtering by a middle level finds the products under it
    under = search(var_dir, "jamón", "Jamón y paleta")
    assert under and all(s.startswith("JIB-") for s in under)


def test_bad_rows_are_reported_at_once_and_can_be_skipped(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    source = tmp_path / "tarifa.csv"
    source.write_text(
        "sku,nombre,categoria,precio,existencias,coste\n"
        "A1,Lápiz HB,Escritura,0,50,10\n"
        "A2,Goma de borrar,Escritura,abc,-3,0.10\n"  # two problems in one row: both shown, one row counted
        "A3,Sacapuntas,,1.20,5,0.30\n"
        'A4,Regla 30 cm,Dibujo,"1,50",9,0.40\n',
        encoding="utf-8",
    )
    before = active_skus(var_dir)
    refused = run(var_dir, "import", str(source))
    assert refused.returncode == 1
    assert "2 fila(s) con problemas de 4" in refused.stderr
    assert "fila 3, columna «precio»" in refused.stderr and "fila 3, columna «existencias»" in refused.stderr
    assert active_skus(var_dir) == before  # nothing changed
    done = run(var_dir, "import", str(source), "--skip-invalid")
    assert done.returncode == 0, done.stderr
    assert {"A1", "A4"} <= active_skus(var_dir) and not {"A2", "A3"} & active_skus(var_dir)
    with (tmp_path / "tarifa.rechazadas.csv").open(encoding="utf-8-sig") as fh:
        rejected = list(csv.DictReader(fh))
    assert [r["sku"] for r in rejected] == ["A2", "A3"]
    assert "precio" in rejected[0]["problema"] and "categor" in rejected[1]["problema"]


def test_reset_starts_empty_and_stays_empty(demo_shop: Path, tmp_path: Path) -> None:
    var_dir = copy_of(demo_shop, tmp_path)
    done = run(var_dir, "reset")
    assert done.returncode == 0, done.stderr
    assert active_skus(var_dir) == set()
    assert run(var_dir, "setup").returncode == 0  # `make run` again: the demo does not come back
    assert active_skus(var_dir) == set()
