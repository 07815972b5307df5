"""Quality measurements: `python -m evals retrieval esci`, `python -m evals cache`, `run DATASET` and `compare A B`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from settings import ROOT


def build_parser() -> argparse.ArgumentParser:
    """The command line: retrieval, cache, run and compare."""
    parser = argparse.ArgumentParser(prog="python -m evals", description="Evaluaciones de Agente Vendedor")
    sub = parser.add_subparsers(dest="command", required=True)
    retrieval_cmd = sub.add_parser("retrieval", help="calidad de la búsqueda sobre datos reales")
    retrieval_cmd.add_argument("dataset", choices=["esci"])
    retrieval_cmd.add_argument("--embedder", default="use", choices=["use", "e5"], help="modelo de vectores local")
    retrieval_cmd.add_argument("--tune", action="store_true", help="busca pesos de fusión con train+val (no test)")
    retrieval_cmd.add_argument("--out", type=Path, default=ROOT / "evals" / "results", help="carpeta de resultados")
    cache_cmd = sub.add_parser("cache", help="caché semántica: near-miss, paráfrasis y precios cambiados")
    cache_cmd.add_argument("--backend", default="redis", choices=["redis", "memory"], help="redis: Redis Stack propio")
    cache_cmd.add_argument("--out", type=Path, default=ROOT / "evals" / "results", help="carpeta de resultados")
    run_cmd = sub.add_parser("run", help="experimento al estilo LangSmith: routing, conversations, retrieval, cache")
    run_cmd.add_argument(
        "dataset",
        choices=[
            *("routing", "routing_heldout", "routing_dev", "conversations", "dialogues", "dialogues_dev", "names"),
            *("dialogues_fresh", "dialogues_fresh2", "dialogues_fresh3"),
            *("retrieval", "cache"),
        ],
    )
    run_cmd.add_argument("--target", default="offline", help="offline, gemini, openai o http://HOST:PORT")
    run_cmd.add_argument("--experiment", default=None, help="nombre (por defecto <dataset>-<target>-<fecha>)")
    run_cmd.add_argument("--concurrency", type=int, default=1, help="ejemplos a la vez")
    run_cmd.add_argument("--limit", type=int, default=None, help="solo los N primeros ejemplos")
    run_cmd.add_argument("--cache-backend", default="redis", choices=["redis", "memory"], help="para el conjunto cache")
    run_cmd.add_argument("--out", type=Path, default=ROOT / "evals" / "results", help="carpeta de resultados")
    compare_cmd = sub.add_parser("compare", help="compara dos experimentos y marca las regresiones")
    compare_cmd.add_argument("a", help="experimento de referencia (nombre o ruta al JSON)")
    compare_cmd.add_argument("b", help="experimento nuevo (nombre o ruta al JSON)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch the eval named on the command line; exit 1 when a target is missed."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Each command imports only its own modules: `compare` must not pay for loading the agent (no cycles here).
    if args.command == "run" and args.dataset == "names":
        from evals import names

        return names.run(args.target, args.experiment, args.limit, args.out)
    if args.command == "run" and args.dataset.startswith("dialogues"):
        from evals import dialogues

        return dialogues.run(args.dataset, args.target, args.experiment, max(1, args.concurrency), args.limit, args.out)
    if args.command == "run":
        from evals import run as run_eval

        return run_eval.run(
            args.dataset, args.target, args.experiment, max(1, args.concurrency), args.limit, args.out,
            args.cache_backend,
        )  # fmt: skip
    if args.command == "compare":
        from evals import compare as compare_eval

        return compare_eval.run(args.a, args.b)
    if args.command == "cache":
        from evals import cache as cache_eval

        return cache_eval.run(args.backend, args.out)
    from evals import retrieval

    return retrieval.run(args.embedder, args.out, args.tune)


if __name__ == "__main__":
    sys.exit(main())
