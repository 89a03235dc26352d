"""One module per `gapbench` subcommand; each has `register(subparsers)`."""

from gapbench.benchmark.cli.commands import datasets, export, gaps, listing, perf, run, status

COMMAND_MODULES = [run, status, listing, gaps, datasets, perf, export]
