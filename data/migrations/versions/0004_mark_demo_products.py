"""mark the sample catalogue loaded before 0003 as demo

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Shops set up before the demo flag existed hold the 268 sample products as ordinary rows; marking them (by the
sample file's SKUs) lets the first import of the shop's own catalogue retire them, as on a new installation.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SAMPLE = Path(__file__).resolve().parents[2] / "catalogue" / "sample_products.json"


def upgrade() -> None:
    if not SAMPLE.exists():
        return
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    rows = data.get("products", data) if isinstance(data, dict) else data
    skus = [str(r["sku"]).upper() for r in rows if isinstance(r, dict) and r.get("sku")]
    product = sa.table("product", sa.column("sku", sa.String), sa.column("demo", sa.Boolean))
    if skus:
        op.execute(product.update().where(product.c.sku.in_(skus)).values(demo=True))


def downgrade() -> None:
    pass  # the flag itself goes with 0003
