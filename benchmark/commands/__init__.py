"""One module per `gapbench` subcommand; each has `register(subparsers)`."""

from benchmark.commands import datasets, gaps, listing, run, status

COMMAND_MODULES = [run, status, listing, gaps, datasets]
