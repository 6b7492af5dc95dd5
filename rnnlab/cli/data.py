"""`rnnlab data`: the outside data sets that some experiments read (rnnlab.data.datasets): list
them with their licences and where they are, download them into the cache, print their paths."""

from __future__ import annotations

import argparse
import sys


def add_commands(command) -> None:
    data = command(
        "data",
        run_data,
        help="the outside data sets: list, fetch, path",
        description="The data sets published elsewhere that some experiments read (sentiment, translate, "
        "music, row-mnist) and the benchmarks. Each is found in the folder $RNNLAB_DATA_DIR names (when "
        "it holds all of the set's files), else in the user cache ($RNNLAB_CACHE_DIR/data when that is "
        "set), else downloaded into the cache from its URL, pinned to one commit, and checked against "
        "its SHA-256. `rnnlab data list` shows where each one is.",
    )
    actions = data.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, **kw) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, **kw)
        # --debug after the action too (`rnnlab data fetch --all --debug`); unset, the group's stays
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return parser

    action(
        "list",
        help="each data set: size, licence, citation, source, where it is",
        description="List the data sets: size, what they hold, licence, what to cite, the repository and "
        "commit they come from, and where each is found (or would be downloaded to).",
    )
    fetch = action(
        "fetch",
        help="download data sets into the cache (checked by SHA-256)",
        description="Download the named data sets (or --all) into the cache, each file checked against its "
        "SHA-256; files already cached are checked in full and downloaded again when they fail. "
        "$RNNLAB_DATA_DIR is not consulted: this fills the cache, e.g. before going offline.",
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="data sets (see rnnlab data list)")
    fetch.add_argument("--all", action="store_true", help="every data set")
    path = action(
        "path",
        help="print the path of a data set (downloading it first when needed)",
        description="Print the path an experiment reads the data set from: its file, or its folder when it "
        "has several files ($RNNLAB_DATA_DIR first, then the cache); a data set in neither is "
        "downloaded into the cache first, unless --no-fetch.",
    )
    path.add_argument("name", metavar="NAME", help="the data set (see rnnlab data list)")
    path.add_argument("--no-fetch", action="store_true", help="fail instead of downloading")
    data.set_defaults(print_help=data.print_help)


def run_data(args) -> int:
    if args.action is None:
        args.print_help()
        return 0
    return {"list": run_list, "fetch": run_fetch, "path": run_path}[args.action](args)


def run_list(args) -> int:
    from ..data import datasets
    from ..data.datadir import ENVIRONMENT_VARIABLE

    for d in datasets.DATASETS.values():
        place = datasets.where(d.name)
        if place.startswith("in $"):
            place += " (cached too)" if datasets.is_cached(d.name) else " (not cached)"
        print(f"{d.name:16s} {datasets.megabytes(d.size):>7s}  {d.title}")
        print(f"{'':16s} where:   {place}")
        print(f"{'':16s} licence: {d.licence}")
        print(f"{'':16s} cite:    {d.citation}")
        print(f"{'':16s} source:  {d.source} ({len(d.files)} file{'s' if len(d.files) > 1 else ''})")
    folder = datasets.data_dir()
    print(
        f"\ncache: {datasets.cache_dir()} (${datasets.CACHE_VARIABLE} moves it); "
        f"${ENVIRONMENT_VARIABLE}: {folder if folder else 'not set'} (read first when it holds a set's files)"
    )
    return 0


def run_fetch(args) -> int:
    from ..data import datasets

    if args.all == bool(args.names):
        raise ValueError("name the data sets to fetch, or give --all (rnnlab data list names them)")
    names = list(datasets.DATASETS) if args.all else args.names
    for name in names:
        datasets.dataset(name)  # every name checked before the first download
    for name in names:
        d = datasets.DATASETS[name]
        had = datasets.is_cached(name)
        if not had:
            print(f"{name}: downloading {datasets.megabytes(d.size)} from {d.source}", flush=True)
        where = datasets.fetch(name, progress=sys.stderr.isatty())
        files = f"{len(d.files)} file{'s' if len(d.files) > 1 else ''}"
        print(f"{name}: {where} ({files}, SHA-256 checked{', already cached' if had else ''})", flush=True)
    return 0


def run_path(args) -> int:
    from ..data import datasets
    from ..data.datadir import ENVIRONMENT_VARIABLE
    from ..data.text import DataError

    d = datasets.dataset(args.name)
    found = datasets.located(args.name)
    if found is None:
        if args.no_fetch:
            raise DataError(
                args.name,
                f"neither in ${ENVIRONMENT_VARIABLE} nor in the cache; `rnnlab data fetch {args.name}` downloads "
                f"it ({datasets.megabytes(d.size)}) into {datasets.cache_dir() / d.root}",
            )
        print(f"{args.name}: downloading {datasets.megabytes(d.size)} from {d.source}", file=sys.stderr, flush=True)
    print(found[1] if found else datasets.fetch(args.name, progress=sys.stderr.isatty()))
    return 0
