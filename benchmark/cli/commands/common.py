"""Argument checks shared by several subcommands; they raise `UserError` with the valid values."""

from __future__ import annotations

from gapbench import envs
from gapbench.benchmark.errors import UserError


def parse_task_arg(task: str) -> str:
    try:
        envs.get_task(task)
    except ValueError as err:
        raise UserError(str(err)) from None
    return task


def parse_gap_arg(gap: str) -> envs.Gap:
    try:
        return envs.parse_gap(gap)
    except ValueError as err:
        raise UserError(str(err)) from None
