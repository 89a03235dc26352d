"""What a sweep shows while it runs.

On a terminal: one overall bar over all updates of the sweep (cells done, running, failed, ETA)
and a live line per running unit (update, latest evaluation return). Elsewhere (a CI log, a
pipe): one plain line per start, evaluation and finish. Nothing goes into Sacred's captured
output: workers report over a side channel.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from tqdm import tqdm

from gapbench.benchmark.cell.status import COMPLETED, SKIPPED
from gapbench.benchmark.sweep.executors import Unit


class SweepProgress:
    def __init__(self, units: list[Unit], workers: int, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.total_units = len(units)
        self.done = self.failed = self.skipped = 0
        self.outcomes: list[tuple[Unit, dict]] = []
        self.steps_seen: dict[int, int] = {}
        self.lines: dict[int, tqdm] = {}
        self.free_positions = list(range(1, workers + 1))
        total = sum(u.steps for u in units)
        self.bar = tqdm(total=total, desc="sweep", unit="upd", file=self.stream, disable=not self.tty,
                        dynamic_ncols=True, smoothing=0.05)
        self._refresh()

    def _refresh(self) -> None:
        self.bar.set_postfix_str(f"cells {self.done + self.failed + self.skipped}/{self.total_units} done, "
                                 f"{len(self.lines)} running, {self.failed} failed", refresh=True)

    def _say(self, text: str) -> None:
        if self.tty:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def started(self, unit: Unit) -> None:
        with self.lock:
            if self.tty:
                position = self.free_positions.pop(0) if self.free_positions else len(self.lines) + 1
                self.lines[id(unit)] = tqdm(total=unit.steps, desc=unit.label, position=position, leave=False,
                                            file=self.stream, unit="upd", dynamic_ncols=True,
                                            bar_format="  {desc} {n_fmt}/{total_fmt} {postfix}")
            else:
                self.lines[id(unit)] = None
                self._say(f"started  {unit.label}")
            self._refresh()

    def progress(self, unit: Unit, fields: dict) -> None:
        step, eval_return = fields.get("step", 0), fields.get("eval_return", 0.0)
        if not isinstance(step, int) or not isinstance(eval_return, (int, float)):
            return  # a malformed report from a worker: the next good one catches up
        with self.lock:
            advance = step - self.steps_seen.get(id(unit), 0)
            self.steps_seen[id(unit)] = step
            if advance > 0:
                self.bar.update(advance)
            if fields.get("resumed"):
                self._say(f"resumed  {unit.label} from its checkpoint at update {step}/{unit.steps}")
            line = self.lines.get(id(unit))
            if line is not None:
                line.n = step
                if "eval_return" in fields:
                    line.set_postfix_str(f"eval return {fields['eval_return']:.1f}", refresh=False)
                line.refresh()
            elif "eval_return" in fields and not self.tty:
                self._say(f"         {unit.label}: update {step}/{unit.steps}, eval return {fields['eval_return']:.1f}")

    def finished(self, unit: Unit, outcome: dict) -> None:
        with self.lock:
            line = self.lines.pop(id(unit), None)
            if line is not None:
                self.free_positions.append(line.pos if line.pos > 0 else -line.pos)
                self.free_positions.sort()
                line.close()
            self.bar.update(max(0, unit.steps - self.steps_seen.get(id(unit), 0)))
            self.outcomes.append((unit, outcome))
            status = outcome["status"]
            if status == COMPLETED:
                self.done += 1
                scores = ", ".join(f"{r:.1f}" for r in outcome["result"]["final_return"])
                self._say(f"done     {unit.label}: final return {scores} (run {outcome['run_id']})"
                          + (f"; {outcome['note']}" if outcome.get("note") else ""))
            elif status == SKIPPED:
                self.skipped += 1
                self._say(f"skipped  {unit.label}: {outcome['reason']}")
            else:
                self.failed += 1
                self._say(f"FAILED   {unit.label}: {outcome.get('reason', status)}")
            self._refresh()

    def close(self) -> None:
        self.bar.close()
