"""A portable copy of a results store, fit to commit: no absolute path and no host name in it.

Sacred records where a run happened: the checkpoint folder and the data file (config.json), the
experiment's base directory, the repository's location and the host (run.json), and file paths in
tracebacks and captured output. Another machine needs none of them. A run's identity
(cell/identity.py) leaves them out, so `gapbench run` resumes from an export as from the original
store, and `status`, `tables` and `plots` read it as they read any store.

Sacred's `_sources/` copies of the code stay behind: each run records the commit it ran.
Only runs that ended are exported: COMPLETED ones and those that ended badly with their reasons,
which are results too. A running run is left alone (in place, untouched; into a new folder, not
copied). The checkpoints of unfinished runs do travel (`checkpoints/*.pt`: networks, optimisers,
random streams and the curve so far, no path), so a study longer than a session goes on from its last
checkpoint on another machine: `run` on the export resumes each unfinished run where it stopped.
Locks, logs and the checkpoints' artifact folders (rewritten from the checkpoint on resume) stay behind.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gapbench import envs
from gapbench.benchmark.cell.status import COMPLETED, ENDED_BADLY
from gapbench.benchmark.errors import UserError
from gapbench.benchmark.sweep.completed import runs_dir

# run.json's host: what says which machine kind produced a result, without naming the machine.
HOST_KEPT = ("cpu", "cpu_features", "os", "python_version", "gpus")
# An absolute path no known root covers: a slash at the start of a word, then a folder.
STRAY_PATH = re.compile(r"(?<![\w.$<>~:/])/(?:[\w.+-]+/)+([\w.+-]*)")


@dataclass(frozen=True)
class ExportSummary:
    exported: int
    skipped: dict[str, int]  # status -> runs left out
    checkpoints: int  # unfinished runs' checkpoints the export holds, to resume from


def roots(store: Path) -> list[tuple[str, str]]:
    """(absolute folder, what it becomes), longest first so the most specific one wins."""
    import gapbench

    repo = Path(gapbench.__file__).resolve().parents[1]  # the checkout, or site-packages when installed
    pairs = {
        store.resolve() / "checkpoints": "checkpoints",
        store.resolve(): ".",
        envs.gapbench_data_dir().resolve(): "$GAPBENCH_DATA",
        envs.d4rl_dir().resolve(): "$D4RL_DATASET_DIR",
        repo: "<gapbench>",
        Path(sys.prefix).resolve(): "<python>",
        Path(sys.base_prefix).resolve(): "<python>",
        Path.home().resolve(): "~",
    }
    found = [(str(path), name) for path, name in pairs.items() if str(path) != "/"]
    return sorted(found, key=lambda pair: -len(pair[0]))


def portable_text(text: str, known: list[tuple[str, str]]) -> str:
    for path, name in known:
        text = re.sub(re.escape(path) + r"(?=/|\b|$)", lambda _m: name, text)
    return STRAY_PATH.sub(_stray, text)


def _stray(match: re.Match) -> str:
    """A path in another environment (the tox env that ran the job, say): what is inside its
    site-packages is still worth reading, the folders around it are not."""
    path = match.group(0)
    if "/site-packages/" in path:
        return "<site-packages>/" + path.split("/site-packages/", 1)[1]
    return f"<elsewhere>/{match.group(1)}"


def portable_json(value: Any, known: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return portable_text(value, known)
    if isinstance(value, list):
        return [portable_json(v, known) for v in value]
    if isinstance(value, dict):
        # The runner always checkpoints into the store's own checkpoints/, however it was named.
        return {k: "checkpoints" if k == "checkpoint_dir" and isinstance(v, str) else portable_json(v, known)
                for k, v in value.items()}
    return value


def portable_run(run: dict, known: list[tuple[str, str]]) -> dict:
    run = dict(run)
    run["host"] = {k: v for k, v in (run.get("host") or {}).items() if k in HOST_KEPT}
    experiment = dict(run.get("experiment") or {})
    # A repository's url is where the checkout lives (git://<path>); its commit is what matters.
    experiment["repositories"] = [{k: v for k, v in repo.items() if k != "url"}
                                  for repo in experiment.get("repositories") or [] if isinstance(repo, dict)]
    run["experiment"] = experiment
    return portable_json(run, known)


def export(store: Path, dest: Path | None = None) -> ExportSummary:
    """Write the portable copy of `store` to `dest`, or rewrite `store` in place when `dest` is None."""
    source = runs_dir(store)
    if not source.is_dir():
        raise UserError(f"no results store at {store}: expected {source}/ as written by `gapbench run`")
    in_place = dest is None or Path(dest).resolve() == Path(store).resolve()
    target = source if in_place else runs_dir(dest)
    if not in_place and target.exists() and any(target.iterdir()):
        raise UserError(f"{target} is not empty: export into a new folder, or omit --to to rewrite {store} in place")
    known = roots(Path(store))
    exported, skipped, written = 0, {}, []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        if folder.name.startswith("_"):
            # Sacred's copies of the experiment's source files (`_sources/`): each run's
            # `experiment.repositories` names the commit they come from, so an export does not
            # carry a second copy of the code (and .gitignore keeps an in-place one out of git).
            continue
        try:
            run = json.loads((folder / "run.json").read_text())
            status = str(run.get("status"))
        except (OSError, ValueError):
            status = "unreadable"
        if status != COMPLETED and status not in ENDED_BADLY:
            skipped[status] = skipped.get(status, 0) + 1
            continue
        out = target / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            if path.name == "run.json":
                text = json.dumps(portable_run(run, known), indent=2)
            elif path.suffix == ".json":
                text = json.dumps(portable_json(json.loads(path.read_text()), known), indent=2)
            elif path.name == "cout.txt":
                text = portable_text(path.read_text(errors="replace"), known)
            else:  # an artifact (npz): arrays, no paths
                if not in_place:
                    shutil.copyfile(path, out / path.name)
                continue
            (out / path.name).write_text(text)
            written.append(out / path.name)
        exported += 1
    leftover = [str(p) for p in written if _mentions(p, known)]
    if leftover:  # a defect of this module, never the user's: say which file kept a path
        raise RuntimeError(f"the export still names a local folder in {', '.join(leftover)}")
    # Whole files only: a `.pt.part` is a checkpoint being written, its previous `.pt` is the whole one.
    checkpoints = sorted((Path(store) / "checkpoints").glob("*.pt"))
    if not in_place and checkpoints:
        (Path(dest) / "checkpoints").mkdir(parents=True, exist_ok=True)
        for path in checkpoints:
            shutil.copyfile(path, Path(dest) / "checkpoints" / path.name)
    return ExportSummary(exported, skipped, len(checkpoints))


def _mentions(path: Path, known: list[tuple[str, str]]) -> bool:
    text = path.read_text(errors="replace")
    return any(root in text for root, _name in known)
