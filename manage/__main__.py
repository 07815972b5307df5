"""Command line for the shop owner: `python -m manage COMMAND`.

Commands: migrate, seed, import, reset, index, setup, policies, forget-customer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from data.db import DatabaseURLError
from data.importer import ImportFileError
from data.policies import PoliciesError
from manage.commands import (
    EXIT_INVALID,
    EXIT_USAGE,
    ImportOptions,
    cmd_forget_customer,
    cmd_forget_order_customer,
    cmd_index,
    cmd_migrate,
    cmd_policies,
    cmd_reset,
    cmd_seed,
    cmd_setup,
    import_file,
    parse_maps,
)
from settings import configure_logging, get_settings


def _parser() -> argparse.ArgumentParser:
    """The commands and their flags (help texts in Spanish: the shop owner reads them)."""
    parser = argparse.ArgumentParser(prog="python -m manage", description="Catálogo de Agente Vendedor")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="crea o actualiza el esquema de la base de datos")
    seed = sub.add_parser("seed", help="carga el catálogo de ejemplo si no hay productos")
    seed.add_argument("--force", action="store_true", help="actualiza con el catálogo de ejemplo aunque haya productos")
    imp = sub.add_parser(
        "import", help="importa productos de Shopify, WooCommerce, CSV, XLSX, JSON o JSONL (alta o cambio por SKU)"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="CAMPO=COLUMNA",
        help="qué columna alimenta cada campo (sku, name, price, category, ...)",
    )
    imp.add_argument(
        "--default-stock", type=int, default=None, metavar="N", help="existencias para filas sin dato de stock"
    )
    imp.add_argument("--dry-run", action="store_true", help="muestra cómo se leerá el fichero, sin guardar nada")
    imp.add_argument("--format", default="auto", choices=["auto", "shopify", "woocommerce", "generic"])
    imp.add_argument(
        "--public-column", action="append", default=[], metavar="COLUMNA", help="muestra esta columna a los clientes"
    )
    imp.add_argument(
        "--skip-invalid", action="store_true", help="importa las filas buenas y deja las malas en NOMBRE.rechazadas.csv"
    )
    imp.add_argument("--keep-demo", action="store_true", help="no retira los productos de ejemplo")
    imp.add_argument("--no-index", action="store_true", help="no actualiza el índice de búsqueda")
    imp.add_argument("--quiet", action="store_true", help="sin barra de progreso")
    sub.add_parser("reset", help="retira todos los productos de la venta y vacía los carritos (los pedidos quedan)")
    sub.add_parser("index", help="sincroniza (o reconstruye) el índice vectorial con la base de datos")
    sub.add_parser("setup", help="migra, carga el catálogo de ejemplo si está vacío, indexa e instala las políticas")
    pol = sub.add_parser(
        "policies", help="instala un documento de políticas (Markdown) o lista las secciones del actual"
    )
    pol.add_argument("file", type=Path, nargs="?", default=None)
    forget = sub.add_parser(
        "forget-customer", help="borra los datos personales de un cliente (sus pedidos quedan, sin esos datos)"
    )
    forget.add_argument("customer_id", type=_customer_id, metavar="ID", nargs="?", help="número del cliente")
    forget.add_argument(
        "--pedido", type=_customer_id, metavar="N",
        help="o el número de un pedido: borra los datos de quien lo hizo (web o Telegram), también en sus otros "
        "pedidos de esa conversación o chat, sus mensajes y la memoria de la conversación",
    )  # fmt: skip
    return parser


def _customer_id(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"«{raw}» no es un número de cliente (un entero desde 1)")
    return int(raw)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and return a process exit code (0 ok, 1 invalid file, 2 usage)."""
    args = _parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    try:
        match args.command:
            case "migrate":
                return asyncio.run(cmd_migrate())
            case "seed":
                return asyncio.run(cmd_seed(args.force))
            case "import":
                options = ImportOptions(
                    explicit_map=parse_maps(args.map),
                    default_stock=args.default_stock,
                    dry_run=args.dry_run,
                    index=not args.no_index,
                    quiet=args.quiet,
                    file_format=args.format,
                    public_columns=tuple(args.public_column),
                    skip_invalid=args.skip_invalid,
                    keep_demo=args.keep_demo,
                )
                return asyncio.run(import_file(args.file, options))
            case "reset":
                return asyncio.run(cmd_reset())
            case "index":
                return asyncio.run(cmd_index())
            case "setup":
                return asyncio.run(cmd_setup())
            case "policies":
                return cmd_policies(args.file)
            case "forget-customer":
                if (args.customer_id is None) == (args.pedido is None):
                    print("Error: indica un número de cliente o --pedido N (uno de los dos).", file=sys.stderr)
                    return EXIT_USAGE
                if args.pedido is not None:
                    return asyncio.run(cmd_forget_order_customer(args.pedido))
                return asyncio.run(cmd_forget_customer(args.customer_id))
    except PoliciesError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (ImportFileError, DatabaseURLError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
