"""The commands behind `python -m manage`: migrate, seed, import, reset, index, setup, policies, forget-customer.

This is a composition root (like server.py), above the layers it drives: the data layer writes, and the search
index (`tools.catalog`) is brought up to date in the same command, because an import is only done once the new
products are searchable.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from data import crud
from data.db import create_engine, session_factory, write_session
from data.importer import ImportFileError, ImportPlan, plan_import
from data.migrate import upgrade
from data.order_status import OrderError, forget_customer, forget_order_customer
from data.policies import SAMPLE_POLICIES
from data.policies import install as install_policies
from data.policies import read as read_policies
from data.report import describe, problems, write_rejected
from data.shipping import shipping_rates
from data.types import format_euros
from settings import ROOT, get_settings
from tools.catalog import CatalogService

SAMPLE_CATALOGUE = ROOT / "data" / "catalogue" / "sample_products.json"

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
T = TypeVar("T")


def _bar(desc: str, quiet: bool) -> Callable[[int], Callable[[int], None] | None]:
    """A factory of tqdm progress callbacks that stays silent for short jobs or when asked."""

    def factory(total: int) -> Callable[[int], None] | None:
        if quiet or total < 500:
            return None
        bar = tqdm(total=total, desc=desc, unit="prod", leave=False, file=sys.stderr)

        def update(n: int) -> None:
            bar.update(n)
            if bar.n >= total:
                bar.close()

        return update

    return factory


def _count_lines(path: Path) -> int:
    if not path.is_file():
        return 0
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def parse_maps(values: Sequence[str]) -> dict[str, str]:
    """`--map CAMPO=COLUMNA` flags as a field → column mapping."""
    mapping: dict[str, str] = {}
    for value in values:
        name, sep, column = value.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise ImportFileError(f"--map espera CAMPO=COLUMNA, no «{value}»")
        mapping[name.strip().lower()] = column.strip()
    return mapping


async def _service() -> CatalogService:
    return CatalogService(get_settings())


async def cmd_migrate() -> int:
    """Create or upgrade the schema; safe to repeat."""
    engine = create_engine(get_settings().resolved_database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("Base de datos al día.")
    return EXIT_OK


def _print_errors(plan: ImportPlan) -> None:
    print(f"No se ha importado nada de {plan.path.name}.", file=sys.stderr)
    for line in problems(plan):
        print(line, file=sys.stderr)
    print("Corrige esas filas o usa --skip-invalid para importar las demás.", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read the file and what to do with it (the `import` command's flags)."""

    explicit_map: dict[str, str] = field(default_factory=dict)
    default_stock: int | None = None
    dry_run: bool = False
    index: bool = True
    quiet: bool = False
    file_format: str = "auto"
    public_columns: tuple[str, ...] = ()
    skip_invalid: bool = False
    keep_demo: bool = False
    demo: bool = False  # the sample catalogue itself (`seed`)


async def import_file(path: Path, options: ImportOptions | None = None) -> int:
    """Validate, upsert in one transaction, then bring the search index up to date. Returns an exit code."""
    options = options or ImportOptions()
    started = time.perf_counter()
    service = await _service()
    try:
        await upgrade(service.engine)
        total_lines = await asyncio.to_thread(_count_lines, path)
        plan = plan_import(
            path,
            explicit_map=options.explicit_map,
            default_stock=options.default_stock,
            progress=_bar("Validando", options.quiet)(total_lines),
            file_format=options.file_format,
            public_columns=options.public_columns,
        )
        if options.dry_run:
            return await _dry_run(service, plan, options)
        if not plan.ok and not options.skip_invalid:
            _print_errors(plan)
            return EXIT_INVALID
        products = [p.model_copy(update={"demo": options.demo}) for p in plan.products]
        provided = [fields | {"demo"} for fields in plan.provided]
        async with write_session(service.sessions) as session:
            counts = await crud.upsert_products(session, products_in=products, provided=provided)
            retired = 0 if options.demo or options.keep_demo else await crud.retire_demo(session)
        written = time.perf_counter()
        report = await service.load(progress=_bar("Indexando", options.quiet)) if options.index else None
        print(
            f"Importados {len(products)} productos de {path.name}: {counts.created} nuevos, {counts.updated} "
            f"actualizados, {counts.unchanged} sin cambios. Base de datos {written - started:.1f} s"
            + (f", índice {report.seconds:.1f} s ({report.embedded} vectores nuevos)" if report else "")
            + f"; total {time.perf_counter() - started:.1f} s."
        )
        _after_import(plan, retired)
        return EXIT_OK
    finally:
        await service.close()


async def _dry_run(service: Any, plan: ImportPlan, options: ImportOptions) -> int:
    """Everything the import would do, and nothing done."""
    for line in describe(plan):
        print(line)
    for line in problems(plan):
        print(line)
    async with service.sessions() as session:
        counts = await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
        demo = 0 if options.demo or options.keep_demo else await crud.retire_demo(session)
        await session.rollback()
    print(
        f"Simulación (no se ha guardado nada): {len(plan.products)} productos válidos; se crearían {counts.created}, "
        f"se actualizarían {counts.updated} y {counts.unchanged} quedarían igual"
        + (f"; se retirarían los {demo} productos de ejemplo." if demo else ".")
    )
    return EXIT_OK if plan.ok or options.skip_invalid else EXIT_INVALID


def _after_import(plan: ImportPlan, retired: int) -> None:
    if plan.attribute_columns:
        print(f"Columnas guardadas como atributos públicos: {', '.join(plan.attribute_columns)}.")
    if plan.private_columns:
        print(f"Columnas guardadas como privadas (no se muestran a clientes): {', '.join(plan.private_columns)}.")
    if retired:
        print(f"Retirados los {retired} productos de ejemplo: ahora se vende solo tu catálogo (--keep-demo los deja).")
    if not plan.ok:
        rejected = write_rejected(plan)
        print(f"{plan.bad_rows} fila(s) con problemas no se han importado; están en {rejected} con el motivo.")


async def cmd_reset() -> int:
    """Take every product off sale and empty the carts: start a catalogue from nothing (orders are kept)."""
    service = await _service()
    try:
        await upgrade(service.engine)
        async with write_session(service.sessions) as session:
            retired = await crud.retire_all(session)
        await service.load()
    finally:
        await service.close()
    print(f"Catálogo vacío: {retired} productos retirados de la venta. Importa el tuyo con `python -m manage import`.")
    return EXIT_OK


async def cmd_seed(force: bool = False) -> int:
    """Load the sample catalogue when the database has no products (or always with --force)."""
    service = await _service()
    try:
        await upgrade(service.engine)
        async with service.sessions() as session:
            empty = await crud.count_products(session) == 0
    finally:
        await service.close()
    if not empty and not force:
        print("El catálogo ya tiene productos: no se carga el de ejemplo (usa --force para actualizarlo).")
        return EXIT_OK
    return await import_file(SAMPLE_CATALOGUE, ImportOptions(quiet=True, demo=True))


async def cmd_index() -> int:
    """Bring the vector index in line with the database (rebuild if the embedder changed)."""
    service = await _service()
    try:
        await upgrade(service.engine)
        report = await service.load(progress=_bar("Indexando", False))
    finally:
        await service.close()
    print(f"Índice al día: {report.applied} productos, {report.embedded} vectores nuevos, {report.seconds:.1f} s.")
    return EXIT_OK


def cmd_policies(source: Path | None) -> int:
    """Install a new policies document (checked first), or list the sections of the current one."""
    target = get_settings().resolved_policies_file
    if source is None:
        sections = read_policies(target)
        print(f"Políticas en {target} ({len(sections)} secciones):")
    else:
        sections = install_policies(source, target)
        print(f"Políticas instaladas en {target} ({len(sections)} secciones); el asistente las usa ya.")
    for section in sections:
        print(f"  - {section.title} ({len(section.passages)} párrafos)")
    rates = shipping_rates(sections)
    if rates:
        print("Tarifas de envío (para las cuentas con el carrito):")
    for rate in rates:
        free = f", gratis desde {format_euros(rate.free_from)}" if rate.free_from is not None else ""
        print(f"  - {rate.name}: {format_euros(rate.cost)}{free}")
    return EXIT_OK


async def cmd_setup() -> int:
    """What `make run` needs before serving: schema, sample catalogue if empty, vector index, policies."""
    await cmd_migrate()
    code = await cmd_seed()
    if code != EXIT_OK:
        return code
    if not get_settings().resolved_policies_file.exists():
        cmd_policies(SAMPLE_POLICIES)
    return await cmd_index()


async def cmd_forget_order_customer(order_id: int) -> int:
    """Erase the personal data of whoever placed an order, their transcripts and the conversations' memory."""
    forgotten = await _erase(lambda session: forget_order_customer(session, order_id))
    if forgotten is None:
        return EXIT_INVALID
    await _drop_threads(forgotten.thread_ids)
    print(
        f"Borrados los datos personales de quien hizo el pedido {order_id}: en {forgotten.orders} pedido(s) de su "
        "conversación o chat, nombre, correo, teléfono, dirección, código postal, localidad, punto de recogida y chat "
        "de Telegram; se conservan las líneas, los importes y los estados."
    )
    print(f"Borrados {forgotten.messages} mensajes de sus conversaciones y la memoria de {len(forgotten.thread_ids)} "
          "conversación(es).")  # fmt: skip
    return EXIT_OK


async def _erase(work: Callable[[AsyncSession], Awaitable[T]]) -> T | None:
    """One erasure in a single transaction on the configured database; None (and why, on stderr) when refused."""
    engine = create_engine(get_settings().resolved_database_url)
    try:
        await upgrade(engine)
        async with write_session(session_factory(engine)) as session:
            return await work(session)
    except OrderError as exc:  # an unknown order or customer
        print(f"Error: {exc} No se ha borrado nada.", file=sys.stderr)
        return None
    finally:
        await engine.dispose()


async def _drop_threads(thread_ids: Sequence[str]) -> None:
    """Delete the conversations' checkpoints (the details the checkout kept in the graph's state)."""
    settings = get_settings()
    if not thread_ids or settings.checkpointer == "memory":
        return
    if settings.checkpointer == "redis":
        from langgraph.checkpoint.redis.aio import AsyncRedisSaver

        async with AsyncRedisSaver.from_conn_string(settings.resolved_redis_url) as redis_saver:
            await redis_saver.asetup()
            for thread_id in thread_ids:
                await redis_saver.adelete_thread(thread_id)
        return
    path = settings.var_dir / "checkpoints.db"
    if not path.exists():
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        for thread_id in thread_ids:
            await saver.adelete_thread(thread_id)


async def cmd_forget_customer(customer_id: int) -> int:
    """Erase a customer's personal data (the right to be forgotten); their orders stay, without it."""
    touched = await _erase(lambda session: forget_customer(session, customer_id))
    if touched is None:
        return EXIT_INVALID
    print(f"Borrados los datos personales del cliente {customer_id}: nombre, correo, teléfono e identificador externo.")
    if touched:
        print(
            f"En sus {touched} pedido(s) se han borrado nombre, correo, teléfono, dirección, código postal, localidad, "
            "punto de recogida y chat de Telegram; se conservan las líneas, los importes y los estados."
        )
    else:
        print("No tenía pedidos.")
    return EXIT_OK
