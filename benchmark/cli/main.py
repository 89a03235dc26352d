"""The `gapbench` command.

Subcommands come from `gapbench.benchmark.cli.commands` and from the ``gapbench.commands`` entry-point group,
which is how the analysis layer adds `tables` and `plots` without this layer importing upward.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from gapbench.envs.d4rl_file import DatasetError

from gapbench.benchmark.cli.commands import COMMAND_MODULES
from gapbench.benchmark.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gapbench",
        description="Benchmark RL methods across a sim-to-real dynamics gap.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    registrars = [module.register for module in COMMAND_MODULES]
    registrars += [ep.load() for ep in sorted(entry_points(group="gapbench.commands"), key=lambda e: e.name)]
    for register in registrars:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, DatasetError) as err:
        print(f"gapbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gapbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
