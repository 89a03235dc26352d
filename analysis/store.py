"""The two places `gapbench run` leaves its Sacred runs: FileStorage folders and a MongoDB.

Both are read into the same `RunRecord`s, so everything downstream is backend-agnostic. A run
that cannot be read (unreadable JSON, a missing file, a result of the wrong shape) is skipped
with a `StoreWarning` naming it, because one bad folder in a copied store must not hide the rest.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit, urlunsplit

from gapbench.analysis.errors import AnalysisError, StoreWarning

# Files a FileStorage run folder must have; a COMPLETED run also needs its metrics and info.
# Sacred's run statuses and MongoObserver's default database, as a store holds them. The benchmark
# layer writes them through Sacred and names them in benchmark/cell/status.py; this layer may not
# import it, so it keeps the two it reads.
COMPLETED, RUNNING = "COMPLETED", "RUNNING"
SACRED_DEFAULT_DB = "sacred"

REQUIRED = ("config.json", "run.json")
REQUIRED_COMPLETED = ("metrics.json", "info.json")


@dataclass(frozen=True)
class RunRecord:
    """One Sacred run as stored, whatever the backend."""

    run_id: str
    status: str  # COMPLETED, FAILED, RUNNING, INTERRUPTED, ...
    config: dict[str, Any]
    info: dict[str, Any]
    result: dict[str, Any] | None
    start_time: datetime | None
    heartbeat: datetime | None
    metrics: dict[str, dict[str, list]]  # name -> {"steps": [...], "values": [...]} (Mongo: eval/ only)
    artifacts: tuple[str, ...]
    fail_trace: tuple[str, ...]
    where: str  # for messages: the folder, or the database and id

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.config.get("seeds") or []]

    @property
    def precision(self) -> str:
        """The arithmetic of the run's updates: "fp32" (the default, and what a run that records none
        used) or "bf16"."""
        return str((self.config.get("train") or {}).get("precision", "fp32"))

    @property
    def cell(self) -> tuple[str, str, str | None, str | None]:
        """(method, task, dataset, gap); None marks an axis the method ignores. A run in another
        precision than fp32 is its own method, `cql@bf16`: the tables and plots show it beside its fp32
        runs, never pooled with them and never in their place."""
        c = self.config
        method = c["method"] if self.precision == "fp32" else f"{c['method']}@{self.precision}"
        return method, c["task"], c.get("dataset"), c.get("gap")


@dataclass(frozen=True)
class Store:
    """The readable runs of one store, and a way to fetch their artifacts (Figure 3's npz files)."""

    location: str
    records: tuple[RunRecord, ...]
    read_artifact: Callable[[RunRecord, str], bytes]


def open_store(source: str | Path) -> Store:
    """A results folder (holding `runs/`, or the `runs/` folder itself) or a `mongodb://HOST:PORT/DB` URL."""
    text = str(source)
    if text.startswith(("mongodb://", "mongodb+srv://")):
        return _open_mongo(text)
    return _open_folder(Path(text))


def sort_key(run_id: str) -> tuple:
    """Numeric ids in numeric order (Sacred's ids are 1, 2, ..., 10), anything else after."""
    return (0, int(run_id), "") if run_id.isdigit() else (1, 0, run_id)


# ---------------------------------------------------------------------------- FileStorage


def _open_folder(path: Path) -> Store:
    runs = path / "runs" if (path / "runs").is_dir() else path
    if not runs.is_dir():
        raise AnalysisError(f"no results store at {path}: expected {path / 'runs'}/ as written by `gapbench run`")
    records = []
    for folder in sorted((p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("_")),
                         key=lambda p: sort_key(p.name)):
        try:
            records.append(_read_folder(folder))
        except _Broken as err:
            warnings.warn(f"skipping run folder {folder}: {err}", StoreWarning, stacklevel=2)
    return Store(str(runs), tuple(records), lambda record, name: (runs / record.run_id / name).read_bytes())


class _Broken(Exception):
    """A run that cannot be used; the message says which file and why."""


def _read_folder(folder: Path) -> RunRecord:
    docs = {name: _read_json(folder / name) for name in REQUIRED}
    run = docs["run.json"]
    status = str(run.get("status", "UNKNOWN"))
    for name in REQUIRED_COMPLETED:  # an unfinished run may not have written them yet
        docs[name] = _read_json(folder / name) if status == COMPLETED or (folder / name).exists() else {}
    return _record(folder.name, status, docs["config.json"], docs["info.json"], run, docs["metrics.json"],
                   [a for a in run.get("artifacts") or [] if isinstance(a, str)], str(folder))


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise _Broken(f"{path.name} is missing") from None
    except (OSError, ValueError) as err:
        raise _Broken(f"{path.name} is unreadable ({type(err).__name__}: {err})") from None
    if not isinstance(doc, dict):
        raise _Broken(f"{path.name} holds a {type(doc).__name__}, not an object")
    return doc


# ---------------------------------------------------------------------------- MongoDB


def _open_mongo(url: str) -> Store:
    try:
        import gridfs
        import pymongo
    except ImportError:
        raise AnalysisError("reading a MongoDB store needs pymongo: pip install 'gapbench[mongo]'") from None
    db_name = urlparse(url).path.lstrip("/") or SACRED_DEFAULT_DB  # where `gapbench run --mongo` writes too
    shown = redacted(url)  # every message and the store's location: the password never leaves
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        db = client[db_name]
        metrics: dict[Any, dict[str, dict]] = {}
        # Only the evaluations: a long run's training metrics would be most of the bytes.
        for doc in db.metrics.find({"name": {"$regex": "^eval/"}}, {"run_id": 1, "name": 1, "steps": 1, "values": 1}):
            metrics.setdefault(doc["run_id"], {})[doc["name"]] = {"steps": doc["steps"], "values": doc["values"]}
        records, file_ids = [], {}
        for doc in sorted(db.runs.find(), key=lambda d: sort_key(str(d["_id"]))):
            where = f"{shown} run {doc['_id']}"
            artifacts = [a for a in doc.get("artifacts") or [] if isinstance(a, dict) and "name" in a]
            file_ids[str(doc["_id"])] = {a["name"]: a["file_id"] for a in artifacts}
            try:
                records.append(_record(str(doc["_id"]), str(doc.get("status", "UNKNOWN")), doc.get("config"),
                                       doc.get("info") or {}, doc, metrics.get(doc["_id"], {}),
                                       [a["name"] for a in artifacts], where))
            except _Broken as err:
                warnings.warn(f"skipping run {doc['_id']} of {shown}: {err}", StoreWarning, stacklevel=2)
    except pymongo.errors.PyMongoError as err:
        message = str(err).splitlines()[0].replace(url, shown)
        password = urlparse(url).password
        raise AnalysisError(f"cannot read MongoDB store {shown}: "
                            f"{message.replace(password, '***') if password else message}") from None
    fs = gridfs.GridFS(db)

    def read_artifact(record: RunRecord, name: str) -> bytes:
        return fs.get(file_ids[record.run_id][name]).read()

    return Store(shown, tuple(records), read_artifact)


def redacted(url: str) -> str:
    """The URL with any password replaced by *** (benchmark/sweep/mongo.py has the same for `run --mongo`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}" if user else f"***@{hosts}"))


# ---------------------------------------------------------------------------- shared checks


def _record(run_id: str, status: str, config: Any, info: dict, run: dict, metrics: dict, artifacts: list[str],
            where: str) -> RunRecord:
    if not isinstance(config, dict) or not all(k in config for k in ("method", "task", "seeds")):
        raise _Broken("its config lacks method, task or seeds")
    result = run.get("result")
    if status == COMPLETED:
        _check_result(result, config)
    return RunRecord(run_id, status, config, info, result if status == COMPLETED else None,
                     _time(run.get("start_time")), _time(run.get("heartbeat")), metrics, tuple(artifacts),
                     tuple(run.get("fail_trace") or ()), where)


def _check_result(result: Any, config: dict) -> None:
    """What makes a COMPLETED run count: one finite final score per seed of its config, from as
    many updates as its config asks. The runner counts by the same rule (benchmark/sweep/
    completed.py `not_counted`, which this layer may not import); a test checks they agree."""
    if not isinstance(result, dict):
        raise _Broken("it is COMPLETED but has no result")
    seeds = result.get("seeds")
    if not isinstance(seeds, list) or sorted(map(str, seeds)) != sorted(map(str, config["seeds"])):
        raise _Broken(f"its result covers seeds {seeds}, its config {config['seeds']}")
    for key in ("final_return", "final_normalized"):
        values = result.get(key)
        if not isinstance(values, list) or len(values) != len(seeds):
            raise _Broken(f"its result's {key} is not one number per seed")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise _Broken(f"its result's {key} is not finite: {values}")
    if config.get("steps") is not None and result.get("steps") != config["steps"]:
        raise _Broken(f"it made {result.get('steps')} updates of the {config['steps']} its config asks for")


def _time(value: Any) -> datetime | None:
    """FileStorage writes ISO strings, Mongo stores dates; both are naive UTC."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
