"""Figure 3's data: the u(s,a), omega and Q snapshots H2O runs save as Sacred artifacts.

A run with `train.diagnostics_every` stores `diagnostics_step<step>.npz` files holding, for each seed
of the run (axis 0), one sim minibatch's u, omega, Q (min of the twin critics) and x-velocity.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd

from gapbench.analysis.errors import StoreWarning
from gapbench.analysis.store import Store

SNAPSHOT = re.compile(r"^diagnostics_step(\d+)\.npz$")
ARRAYS = ("u", "omega", "q", "x_velocity")
COLUMNS = ["run_id", "method", "label", "task", "dataset", "gap", "seed", "step", *ARRAYS]


def load_snapshots(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, seed, snapshot, sample) of the counted runs in `frame` (from `load_runs`).

    An artifact that cannot be read is skipped with a warning naming it, like a broken run folder.
    """
    counted = frame[frame["counted"]].drop_duplicates(["run_id", "seed"]).set_index(["run_id", "seed"])
    parts = []
    for record in store.records:
        for name in sorted(a for a in record.artifacts if SNAPSHOT.match(a)):
            try:
                with np.load(io.BytesIO(store.read_artifact(record, name))) as data:
                    arrays = {key: np.asarray(data[key]) for key in (*ARRAYS, "seeds", "step")}
            except (OSError, ValueError, KeyError) as err:
                warnings.warn(f"skipping artifact {name} of run {record.run_id} ({record.where}): "
                              f"{type(err).__name__}: {err}", StoreWarning, stacklevel=2)
                continue
            for k, seed in enumerate(arrays["seeds"].tolist()):
                if (record.run_id, seed) not in counted.index:
                    continue
                run = counted.loc[(record.run_id, seed)]
                part = pd.DataFrame({key: arrays[key][k].astype(float) for key in ARRAYS})
                part = part.assign(run_id=record.run_id, method=run["method"], label=run["label"],
                                   task=run["task"], dataset=run["dataset"], gap=run["gap"], seed=seed,
                                   step=int(arrays["step"]))
                parts.append(part[COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
