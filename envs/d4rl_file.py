"""The raw arrays of a D4RL-format HDF5 file: reading with validation, writing, metadata.

Every problem is reported as a `DatasetError` whose text is one line naming the file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("next_observations", "timeouts")


# The arrays a dataset's digest covers, in this order: the data, never the metadata, so a file
# written again with other metadata (a renamed recipe, say) keeps its digest.
DIGEST_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


def arrays_sha256(raw: dict[str, Any]) -> str:
    """SHA-256 over the raw bytes of the DIGEST_KEYS arrays a file has, in that order.

    The reference studies name their data by it (its first 16 hex digits), and a session checks it
    before it resumes a study: equal digests mean bit-identical data.
    """
    digest = hashlib.sha256()
    for key in DIGEST_KEYS:
        if key in raw:
            digest.update(np.ascontiguousarray(raw[key]).tobytes())
    return digest.hexdigest()


class DatasetError(ValueError):
    """A dataset file is unusable. ``str(err)`` is one line: ``PATH: problem``."""

    def __init__(self, path: str | Path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


def read_d4rl_arrays(path: str | Path, *, obs_dim: int | None = None, act_dim: int | None = None) -> dict[str, Any]:
    """Read the D4RL arrays of a file and check keys, shapes, dtypes and finiteness.

    Returns float32 observations/actions/rewards(/next_observations), bool terminals(/timeouts)
    and a ``metadata`` dict of the scalar entries under ``metadata/``.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "no such file")
    if not h5py.is_hdf5(path):
        raise DatasetError(path, "not an HDF5 file")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in REQUIRED_KEYS if k not in f]
            if missing:
                raise DatasetError(
                    path, f"missing key(s) {', '.join(missing)} (a D4RL file needs {', '.join(REQUIRED_KEYS)})"
                )
            raw = {k: f[k][()] for k in REQUIRED_KEYS + OPTIONAL_KEYS if k in f}
            metadata = _read_metadata(f)
    except DatasetError:
        raise
    except (OSError, KeyError, RuntimeError) as err:
        raise DatasetError(path, f"cannot be read as HDF5, the file may be truncated or corrupt ({err})") from None
    return _check_arrays(path, raw, obs_dim, act_dim) | {"metadata": metadata}


def _read_metadata(f: h5py.File) -> dict[str, Any]:
    """The scalar entries under `metadata/` (D4RL also stores policy weights there; skipped)."""
    out: dict[str, Any] = {}
    if "metadata" not in f:
        return out

    def visit(name: str, node) -> None:
        if isinstance(node, h5py.Dataset) and node.shape == ():
            out[name] = decode_meta(node[()])

    f["metadata"].visititems(visit)
    return out


def _check_arrays(path: Path, raw: dict[str, np.ndarray], obs_dim: int | None, act_dim: int | None) -> dict[str, np.ndarray]:
    obs, act = raw["observations"], raw["actions"]
    if obs.ndim != 2:
        raise DatasetError(path, f"observations must be 2-D (rows, obs_dim), got shape {obs.shape}")
    if act.ndim != 2:
        raise DatasetError(path, f"actions must be 2-D (rows, act_dim), got shape {act.shape}")
    n = len(obs)
    if n == 0:
        raise DatasetError(path, "the dataset has no rows")
    if obs_dim is not None and obs.shape[1] != obs_dim:
        raise DatasetError(path, f"observations have {obs.shape[1]} dims per row, the task expects {obs_dim}")
    if act_dim is not None and act.shape[1] != act_dim:
        raise DatasetError(path, f"actions have {act.shape[1]} dims per row, the task expects {act_dim}")
    rewards = raw["rewards"]
    if rewards.ndim == 2 and rewards.shape[1] == 1:  # D4RL's loader squeezes (N, 1)
        rewards = rewards[:, 0]
    raw["rewards"] = rewards
    expected = {"actions": (n, act.shape[1]), "rewards": (n,), "terminals": (n,), "timeouts": (n,),
                "next_observations": (n, obs.shape[1])}
    for key, shape in expected.items():
        if key in raw and raw[key].shape != shape:
            raise DatasetError(path, f"{key} has shape {raw[key].shape}, expected {shape} to match {n} observations")
    out: dict[str, np.ndarray] = {}
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key not in raw:
            continue
        array = raw[key]
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise DatasetError(path, f"{key} has dtype {array.dtype}, expected a float type")
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise DatasetError(path, f"{key} contain {int(bad.sum())} NaN/inf value(s), first in row {first}")
        out[key] = array.astype(np.float32, copy=False)
    for key in ("terminals", "timeouts"):
        if key not in raw:
            continue
        array = raw[key]
        if array.dtype != bool:
            if not (np.issubdtype(array.dtype, np.number) and np.isin(array, (0, 1)).all()):
                raise DatasetError(path, f"{key} must hold booleans (or 0/1), got dtype {array.dtype}")
        out[key] = array.astype(bool)
    return out




def write_d4rl_arrays(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            f[key] = value
        for key, value in metadata.items():
            f[f"metadata/{key}"] = encode_meta(value)
    tmp.replace(path)  # a reader never sees a half-written file under the final name
    return path


def encode_meta(value: Any):
    """Scalars are stored as they are; anything else as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return "json:" + json.dumps(value, sort_keys=True)


def decode_meta(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value.startswith("json:"):
        return json.loads(value[5:])
    return value
