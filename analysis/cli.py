"""`gapbench tables` and `gapbench plots`, registered through the `gapbench.commands` entry point."""


def register(sub) -> None:
    """Filled in by the tables-and-plots issue."""
