"""How far a running run has got and how long it has left, read from its logged metrics: for `gapbench status`.

A run logs its training metrics every `log_every` updates, and Sacred writes them into metrics.json at
each heartbeat, so the furthest logged update trails the run by at most that many updates and one
heartbeat. A run resumed from a checkpoint logs its old curve again in one burst as it starts
(benchmark/training/loop.py, `restore`); those points say nothing of its speed, so the rate is
measured only over intervals logged since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

# Consecutive points of one series closer than this were replayed from a checkpoint, not trained:
# no method makes a logging window of updates in a millisecond.
REPLAYED = timedelta(milliseconds=1)
INTERVALS = 5  # the latest logged intervals the rate averages over


@dataclass(frozen=True)
class Headway:
    step: int  # the furthest update logged
    steps: int  # the run's budget
    rate: float | None  # updates per second over the latest intervals; None until one has been logged

    def seconds_left(self) -> float | None:
        return None if not self.rate else max(self.steps - self.step, 0) / self.rate

    def describe(self) -> str:
        text = f"update {self.step:,}/{self.steps:,}"
        left = self.seconds_left()
        if left is None:
            return text + ", its speed not measured yet"
        return text + f", {self.rate:.3g} updates/s, {_duration(left)} to go"


def read_headway(folder: Path, steps: int) -> Headway | None:
    """The headway of the run in `folder`, or None while it has logged nothing readable."""
    try:
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        series = [(m["steps"], [datetime.fromisoformat(t) for t in m["timestamps"]])
                  for m in metrics.values() if m.get("steps")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # not written yet, or caught mid-write: the next heartbeat rewrites it
    if not series:
        return None
    logged, times = max(series, key=lambda s: (s[0][-1], len(s[0])))  # the series logged furthest, most often
    last = first = len(logged) - 1
    while first > 0 and last - first < INTERVALS and times[first] - times[first - 1] > REPLAYED \
            and logged[first] > logged[first - 1]:
        first -= 1
    seconds = (times[last] - times[first]).total_seconds()
    rate = (logged[last] - logged[first]) / seconds if first < last and seconds > 0 else None
    return Headway(int(logged[last]), steps, rate)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if hours else f"about {minutes} min"
