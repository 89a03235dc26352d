"""One module per `gapbench` subcommand; each has `register(subparsers)`."""

from benchmark.commands import datasets, gaps, listing

COMMAND_MODULES = [listing, gaps, datasets]
