"""A checkpoint's state in the form `torch.load(weights_only=True)` accepts, and back.

Checkpoints live in the results folder, which a shared (Ray, NFS) set-up lets others write, and
unpickling arbitrary objects can run code. So a checkpoint holds only tensors, containers and
Python scalars: numpy arrays and scalars (env physics, observations, diagnostics) travel as
tensors under a marker key and come back as the same dtype and bits. Numpy's RNG states are
already dicts of Python ints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

_ARRAY, _SCALAR = "__numpy_array__", "__numpy_scalar__"


def to_plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(value).copy())}
    if isinstance(value, np.generic):
        return {_SCALAR: torch.from_numpy(np.asarray(value).reshape(1).copy())}
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_plain(v) for v in value)
    return value


def from_plain(value: Any) -> Any:
    if isinstance(value, dict):
        if value.keys() == {_ARRAY}:
            return value[_ARRAY].cpu().numpy()
        if value.keys() == {_SCALAR}:
            return value[_SCALAR].cpu().numpy()[0]
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(from_plain(v) for v in value)
    return value


def save_plain(state: Any, path: Path) -> None:
    """`state` in plain form at `path`, written through a temporary file, so a kill mid-write leaves
    the previous file whole."""
    tmp = path.with_name(path.name + ".part")
    torch.save(to_plain(state), tmp)
    os.replace(tmp, path)
