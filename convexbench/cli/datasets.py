"""``convexbench datasets``: list, inspect, import and verify datasets."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

NAME_HELP = """\
dataset names: family:name[,key=value...]
  synthetic:teacher2,n=200,d=10,noise=0.1,task=binary   (teacher2|teacher3|lowrank|spiral|circles)
  synthetic:lowrank,n=500,d=20,rank=3
  uci:blood            fold 1 of 4 (conxuntos_kfold.dat); fold=1..4|half|official, std=train|none
  fashion-mnist:0v9,n=200,size=7    classes AvB | 0,1,2 | all; n, n_test per class; size=28|14|7;
                                    pca=K; norm=standard|unit
  openml:31 | openml:credit-g       test=0.25, std=train|none
the seed is passed separately (default 0).

data locations, in order: bundled (inside the package) -> $CONVEXBENCH_DATA_DIR (a mirror laid
out as fashion-mnist/*.gz, uci/<name>/...) -> $CONVEXBENCH_CACHE (or the user cache dir) ->
download from the official URL; every file is checked against its registry sha256.
"""

_COLUMNS = ("name", "family", "n", "d", "classes", "task", "availability")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``datasets`` with ``list``, ``info``, ``import`` and ``verify``."""
    parser = subparsers.add_parser(
        "datasets", help="list, inspect, import and verify datasets",
        description="List, inspect, import and verify datasets.", epilog=NAME_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="datasets_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: _usage(parser))

    p_list = sub.add_parser(
        "list", help="registry datasets and where they are available (no network)",
        epilog=NAME_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_list.add_argument("--json", action="store_true", help="print JSON")
    p_list.add_argument("--family", choices=("synthetic", "uci", "fashion-mnist", "openml"))
    p_list.add_argument("--task", choices=("binary", "multiclass", "regression"))
    p_list.add_argument("--max-n", type=int, metavar="N", help="only datasets with n <= N")
    p_list.set_defaults(func=_list)

    p_info = sub.add_parser(
        "info", help="facts about one dataset (loads it if available locally)",
        epilog=NAME_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p_info.add_argument("name", help="dataset name, e.g. uci:blood or fashion-mnist:0v9")
    p_info.add_argument("--seed", type=int, default=0)
    p_info.add_argument("--json", action="store_true", help="print JSON")
    p_info.set_defaults(func=_info)

    p_import = sub.add_parser(
        "import", help="copy and verify a local data mirror into the cache",
        description="Copy every known file under DIR (layout fashion-mnist/*.gz, "
        "uci/<name>/...) into the cache after checking its sha256; mismatches are refused.",
    )
    p_import.add_argument("dir", help="mirror directory")
    p_import.set_defaults(func=_import)

    p_verify = sub.add_parser(
        "verify", help="check the sha256 of every bundled, mirrored and cached file"
    )
    p_verify.add_argument("--json", action="store_true", help="print JSON")
    p_verify.set_defaults(func=_verify)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _list(args: argparse.Namespace) -> int:
    from convexbench.data import list_datasets

    rows = list_datasets(args.family)
    if args.task:
        rows = [r for r in rows if r["task"] == args.task]
    if args.max_n is not None:
        rows = [r for r in rows if r["n"] <= args.max_n]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    _print_table([[str(r[c]) for c in _COLUMNS] for r in rows], _COLUMNS)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["availability"]] = counts.get(r["availability"], 0) + 1
    print(f"\n{len(rows)} datasets: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    return 0


def _print_table(rows: list[list[str]], header: tuple[str, ...]) -> None:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _info(args: argparse.Namespace) -> int:
    from convexbench.data import dataset_info

    info: dict[str, Any] = dataset_info(args.name, args.seed)
    if args.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        for key, value in info.items():
            if isinstance(value, dict):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k}: {v}")
            else:
                print(f"{key}: {value}")
    return 1 if info.get("sha256_ok") is False else 0


def _import(args: argparse.Namespace) -> int:
    from convexbench.data import cache_dir, import_data

    report = import_data(args.dir)
    print(f"copied {len(report.copied)} file(s), {len(report.unchanged)} already in the cache "
          f"({cache_dir()})")
    for relpath in report.refused:
        print(f"REFUSED (checksum mismatch): {relpath}")
    return 1 if report.refused else 0


def _verify(args: argparse.Namespace) -> int:
    from convexbench.data import verify_data

    checks = verify_data()
    bad = [c for c in checks if not c.ok]
    if args.json:
        print(json.dumps([dataclasses.asdict(c) for c in checks], indent=1))
    else:
        for c in bad:
            print(f"MISMATCH  {c.origin:8s} {c.location}")
        by_origin: dict[str, int] = {}
        for c in checks:
            by_origin[c.origin] = by_origin.get(c.origin, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(by_origin.items()))
        print(f"checked {len(checks)} file(s) ({summary or 'none'}): {len(bad)} mismatch(es)")
    return 1 if bad else 0
