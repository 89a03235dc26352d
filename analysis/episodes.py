"""The final evaluation's first real episode per seed, step by step (the paper's Figure 2(c)-(d)).

Every run stores `final_episode.npz`: for each seed of the run (axis 0), the observations of its
first final-evaluation episode in the real env (NaN after a fall), the control interval, and where
the task's tilt and forward velocity sit in the observation (tilt index -1: the task has none).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd

from gapbench.analysis.errors import StoreWarning
from gapbench.analysis.store import Store

ARTIFACT = "final_episode.npz"
COLUMNS = ["run_id", "method", "label", "role", "task", "dataset", "gap", "seed", "time", "tilt", "x_velocity",
           "target_velocity", "length"]


def load_episodes(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, seed, time step) of the counted runs in `frame` (from `load_runs`) whose task
    has a tilt; `length` is the episode's number of steps (1000 for an episode that never fell)."""
    counted = frame[frame["counted"]].drop_duplicates(["run_id", "seed"]).set_index(["run_id", "seed"])
    parts = []
    for record in store.records:
        if ARTIFACT not in record.artifacts:
            continue
        try:
            with np.load(io.BytesIO(store.read_artifact(record, ARTIFACT))) as data:
                arrays = {key: np.asarray(data[key]) for key in
                          ("observations", "lengths", "seeds", "dt", "tilt_index", "x_velocity_index",
                           "target_velocity")}
        except (OSError, ValueError, KeyError) as err:
            warnings.warn(f"skipping artifact {ARTIFACT} of run {record.run_id} ({record.where}): "
                          f"{type(err).__name__}: {err}", StoreWarning, stacklevel=2)
            continue
        tilt, velocity = int(arrays["tilt_index"]), int(arrays["x_velocity_index"])
        if tilt < 0:
            continue
        for k, seed in enumerate(arrays["seeds"].tolist()):
            if (record.run_id, seed) not in counted.index:
                continue
            run = counted.loc[(record.run_id, seed)]
            length = int(arrays["lengths"][k])
            obs = arrays["observations"][k, : length + 1].astype(float)
            part = pd.DataFrame({"time": np.arange(length + 1) * float(arrays["dt"]), "tilt": obs[:, tilt],
                                 "x_velocity": obs[:, velocity]})
            part = part.assign(run_id=record.run_id, method=run["method"], label=run["label"], role=run["role"],
                               task=run["task"], dataset=run["dataset"], gap=run["gap"], seed=seed,
                               target_velocity=float(arrays["target_velocity"]), length=length)
            parts.append(part[COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
