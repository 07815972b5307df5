"""`python -m evals retrieval esci [--embedder use|e5] [--tune]` and `python -m evals cache`: quality measurements."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from settings import ROOT


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch the eval named on the command line; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="python -m evals", description="Evaluaciones de Agente Vendedor")
    sub = parser.add_subparsers(dest="command", required=True)
    retrieval = sub.add_parser("retrieval", help="calidad de la búsqueda sobre datos reales")
    retrieval.add_argument("dataset", choices=["esci"])
    retrieval.add_argument("--embedder", default="use", choices=["use", "e5"], help="modelo de vectores local")
    retrieval.add_argument("--tune", action="store_true", help="busca pesos de fusión con train+val (no test)")
    retrieval.add_argument("--out", type=Path, default=ROOT / "evals" / "results", help="carpeta de resultados")
    cache = sub.add_parser("cache", help="caché semántica: near-miss, paráfrasis y precios cambiados")
    cache.add_argument("--backend", default="redis", choices=["redis", "memory"], help="redis: Redis Stack propio")
    cache.add_argument("--out", type=Path, default=ROOT / "evals" / "results", help="carpeta de resultados")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.command == "cache":
        from evals import cache as cache_eval

        return cache_eval.run(args.backend, args.out)
    from evals.retrieval import run

    return run(args.embedder, args.out, args.tune)


if __name__ == "__main__":
    sys.exit(main())
