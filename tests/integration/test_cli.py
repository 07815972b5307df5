"""`python -m manage ...` as a user runs it: real subprocesses, each with its own VAR_DIR and SQLite file.

The commands are independent, so the module fixture starts them all at once and each test waits for its own:
the whole file costs about as much as its slowest command instead of the sum of them.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from settings import ROOT
from tests.conftest import SAMPLE, SHARED

MERCADONA = SHARED / "mercadona" / "mercadona_products_all.csv"
TIMEOUT = 300


def cli_env(var_dir: Path) -> dict[str, str]:
    """The caller's environment, but every setting that could reach a real database or index pinned to tmp."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "GOOGLE_", "EMBEDDINGS_", "INDEX_"))}
    env.update(
        VAR_DIR=str(var_dir),
        DATABASE_URL="",
        INDEX_DIR="",
        GOOGLE_API_KEY="",
        EMBEDDINGS_PROVIDER="use",
        LOG_LEVEL="WARNING",
        # The commands run side by side: one BLAS thread each instead of several spinning against one another.
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    return env


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Command:
    """One `python -m manage ...` started in the background; `result()` waits for it."""

    def __init__(self, workdir: Path, args: list[str], python_flags: tuple[str, ...] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.var_dir = workdir / "var"
        self._out, self._err = workdir / "stdout.txt", workdir / "stderr.txt"
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, *python_flags, "-m", "manage", *args],
                cwd=ROOT,
                env=cli_env(self.var_dir),
                stdout=out,
                stderr=err,
            )
        self._result: Result | None = None

    def result(self) -> Result:
        if self._result is None:
            code = self.process.wait(timeout=TIMEOUT)
            self._result = Result(code, self._out.read_text(encoding="utf-8"), self._err.read_text(encoding="utf-8"))
        return self._result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run(var_dir: Path, *args: str) -> Result:
    """A command run in the foreground against an existing VAR_DIR."""
    done = subprocess.run(
        [sys.executable, "-m", "manage", *args],
        cwd=ROOT,
        env=cli_env(var_dir),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def query(var_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(var_dir / "agente.db")) as conn:
        return conn.execute(sql).fetchall()


def product_count(var_dir: Path) -> int:
    return int(query(var_dir, "SELECT count(*) FROM product")[0][0])


def revision(var_dir: Path) -> int:
    return int(query(var_dir, "SELECT revision FROM catalogue_meta WHERE id = 1")[0][0])


# ---------------------------------------------------------------------------- input files

HEADER = "sku,nombre,categoria,marca,precio,existencias,activo,color\n"


def small_csv(path: Path) -> Path:
    """20 products, one of them inactive."""
    lines = [HEADER]
    for i in range(1, 21):
        active = "no" if i == 20 else "sí"
        lines.append(f'T{i:02d},Camiseta modelo {i},Ropa,Marca{i % 3},"{i},95",{i},{active},color{i}\n')
    path.write_text("".join(lines), encoding="utf-8")
    return path


BAD_ROWS = {
    3: "fila 3, columna «precio»: debe ser mayor o igual que 0",
    4: "fila 4, columna «nombre»: falta el dato «nombre»",
    5: "fila 5, columna «existencias»: «muchas» no es un número de unidades",
    6: "fila 6, columna «sku»: SKU «B1» repetido (ya está en la fila 2)",
    7: "fila 7: tiene 3 columnas y la cabecera 8",
}


def bad_csv(path: Path) -> Path:
    path.write_text(
        HEADER
        + "B1,Camiseta,Ropa,Marca,10.00,5,sí,rojo\n"  # 2: fine
        + "B2,Pantalón,Ropa,Marca,-3,5,sí,azul\n"  # 3
        + "B3,,Ropa,Marca,12.00,5,sí,verde\n"  # 4
        + "B4,Gorra,Ropa,Marca,8.00,muchas,sí,gris\n"  # 5
        + "B1,Camiseta bis,Ropa,Marca,9.00,2,sí,rojo\n"  # 6
        + "B5,Bufanda,Ropa\n"  # 7
        + "B6,Guantes,Ropa,Marca,4.00,1,sí,negro\n",  # 8: fine
        encoding="utf-8",
    )
    return path


def mercadona_head(path: Path, rows: int) -> Path:
    with MERCADONA.open(encoding="utf-8", newline="") as src, path.open("w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        for i, row in enumerate(reader):
            if i > rows:
                break
            writer.writerow(row)
    return path


# ---------------------------------------------------------------------------- the commands, started together


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Command]]:
    base = tmp_path_factory.mktemp("cli")
    inputs = base / "inputs"
    inputs.mkdir()
    small = small_csv(inputs / "small.csv")
    assert MERCADONA.is_file(), f"dataset missing: {MERCADONA}"
    commands: dict[str, Command] = {}
    try:
        commands["setup"] = Command(base / "setup", ["setup"])
        # -W always::ResourceWarning: test_import_closes_the_file_it_counts reads this run's stderr.
        commands["dry_run"] = Command(
            base / "dry_run", ["import", str(small), "--dry-run"], ("-W", "always::ResourceWarning")
        )
        commands["bad"] = Command(base / "bad", ["import", str(bad_csv(inputs / "bad.csv"))])
        commands["real"] = Command(base / "real", ["import", str(small), "--quiet"])
        commands["missing"] = Command(base / "missing", ["import", str(inputs / "missing.csv")])
        commands["bad_map"] = Command(base / "bad_map", ["import", str(small), "--map", "nonsense"])
        commands["mercadona"] = Command(
            base / "mercadona",
            [
                "import",
                str(mercadona_head(inputs / "mercadona_300.csv", 300)),
                *("--map", "sku=product_id", "--map", "price=price_eur"),
                *("--map", "category=category_l1", "--map", "subcategory=category_l2"),
                *("--default-stock", "25", "--no-index", "--quiet"),
            ],
        )
        yield commands
    finally:
        for command in commands.values():
            command.stop()


# ---------------------------------------------------------------------------- tests


# The slowest command goes first: its second run then overlaps with the others still running.
def test_setup_twice_seeds_once(cli: dict[str, Command]) -> None:
    expected = len(json.loads(SAMPLE.read_text(encoding="utf-8")))
    command = cli["setup"]
    first = command.result()
    assert first.returncode == 0, first.stderr
    assert f"Importados {expected} productos de sample_products.json: {expected} nuevos" in first.stdout
    assert product_count(command.var_dir) == expected
    seeded_revision = revision(command.var_dir)

    second = run(command.var_dir, "setup")
    assert second.returncode == 0, second.stderr
    assert "El catálogo ya tiene productos: no se carga el de ejemplo" in second.stdout
    assert "Importados" not in second.stdout
    assert product_count(command.var_dir) == expected
    assert revision(command.var_dir) == seeded_revision


def test_dry_run_reports_and_writes_nothing(cli: dict[str, Command]) -> None:
    command = cli["dry_run"]
    result = command.result()
    assert result.returncode == 0, result.stderr
    assert "Simulación (no se ha guardado nada): 20 productos válidos; se crearían 20" in result.stdout
    assert product_count(command.var_dir) == 0
    assert revision(command.var_dir) == 0
    assert not (command.var_dir / "index").exists()


def test_import_closes_the_file_it_counts(cli: dict[str, Command]) -> None:
    result = cli["dry_run"].result()  # run with -W always::ResourceWarning
    assert result.returncode == 0, result.stderr
    assert "unclosed file" not in result.stderr


def test_bad_file_exits_1_lists_every_row_and_writes_nothing(cli: dict[str, Command]) -> None:
    command = cli["bad"]
    result = command.result()
    assert result.returncode == 1
    assert "No se ha importado nada de bad.csv." in result.stderr
    assert "5 fila(s) con problemas de 7" in result.stderr
    error_lines = [line.strip() for line in result.stderr.splitlines() if re.match(r"\s*- fila \d+", line)]
    assert error_lines == [f"- {text}" for text in BAD_ROWS.values()]
    assert product_count(command.var_dir) == 0  # not even the two good rows
    assert revision(command.var_dir) == 0
    assert "Importados" not in result.stdout


def test_real_import_writes_products_and_a_matching_index(cli: dict[str, Command]) -> None:
    command = cli["real"]
    result = command.result()
    assert result.returncode == 0, result.stderr
    assert "Importados 20 productos de small.csv: 20 nuevos, 0 actualizados, 0 sin cambios." in result.stdout
    assert "Columnas guardadas como atributos públicos: color." in result.stdout
    assert product_count(command.var_dir) == 20
    active = int(query(command.var_dir, "SELECT count(*) FROM product WHERE active")[0][0])
    assert active == 19
    [(price, stock, attributes)] = query(
        command.var_dir, "SELECT price, stock, attributes FROM product WHERE sku = 'T07'"
    )
    assert (price, stock) == (795, 7)  # "7,95" stored as exact integer cents
    assert json.loads(attributes) == {"color": "color7"}
    manifest = json.loads((command.var_dir / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["count"] == active
    assert manifest["embedder"].startswith("use:")
    assert manifest["revision"] == revision(command.var_dir) == 1


def test_missing_file_exits_2_in_spanish(cli: dict[str, Command]) -> None:
    result = cli["missing"].result()
    assert result.returncode == 2
    assert "Error: No existe el fichero" in result.stderr
    assert "missing.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_map_exits_2(cli: dict[str, Command]) -> None:
    result = cli["bad_map"].result()
    assert result.returncode == 2
    assert "Error: --map espera CAMPO=COLUMNA, no «nonsense»" in result.stderr
    assert "Traceback" not in result.stderr


def test_mercadona_head_imports_with_explicit_maps(cli: dict[str, Command]) -> None:
    command = cli["mercadona"]
    result = command.result()
    assert result.returncode == 0, result.stderr
    assert "Importados 300 productos de mercadona_300.csv: 300 nuevos, 0 actualizados, 0 sin cambios." in result.stdout
    assert "Columnas guardadas como atributos públicos: category_l3, package, size, price_unit." in result.stdout
    assert "privadas (no se muestran a clientes): scraped_date." in result.stdout
    assert product_count(command.var_dir) == 300
    assert query(
        command.var_dir, "SELECT name, price, stock, category, subcategory FROM product WHERE sku = 'MER-00001'"
    ) == [("Aceite de oliva 0,4º Hacendado", 2400, 25, "Aceite, especias y salsas", "Aceite, vinagre y sal")]
    assert not (command.var_dir / "index").exists()  # --no-index
