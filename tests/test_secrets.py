"""A Mongo password given to gapbench never leaves the process: not in any process's command line
while a sweep runs, nor its output, logs, run files, checkpoints, the database's documents, the
tables' output or an error. Real processes, a real SecantusDB with a real user."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_support import GAPBENCH, TINY_TRAIN, run_cli

PASSWORD = "Pl4nted-s3cret"
# Another secret for the test that puts its URL on the command line on purpose: the scan below reads every
# process's command line, and under `pytest -n 2` that test may run beside it (CI failed so at stop 22).
SRV_PASSWORD = "Srv-pl4nted-s3cret"
SAC = ["--methods", "sac", "--gaps", "gravity:2.0", "--seeds", "0", "--steps", "50", *TINY_TRAIN]


def command_lines_holding(secret: str) -> list[str]:
    hits = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if secret in text:
            hits.append(text)
    return hits


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_planted_mongo_password_appears_nowhere(tmp_path, mongo_url):
    pymongo = pytest.importorskip("pymongo")
    pymongo.MongoClient(mongo_url).admin.command("createUser", "gapuser", pwd=PASSWORD, roles=["root"])
    url = mongo_url.replace("mongodb://", f"mongodb://gapuser:{PASSWORD}@") + "/secrets?authSource=admin"
    results = tmp_path / "results"
    # Given in $GAPBENCH_MONGO, it is on no command line at all, the sweep's and its workers' included.
    proc = subprocess.Popen([GAPBENCH, "run", *SAC, "--results", str(results)], env={**os.environ, "GAPBENCH_MONGO": url},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen_in_argv = []
    while proc.poll() is None:
        seen_in_argv += command_lines_holding(PASSWORD)
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert not seen_in_argv
    assert PASSWORD not in out + err and not files_holding(results, PASSWORD)
    db = pymongo.MongoClient(url)["secrets"]
    assert db.runs.count_documents({"status": "COMPLETED"}) == 1
    assert not [d for name in db.list_collection_names() for d in db[name].find() if PASSWORD in str(d)]

    for args in (["tables", "--results", url, "--out", str(tmp_path / "tables")],
                 ["tables", "--results", url.replace("/secrets", "/empty"), "--out", str(tmp_path / "none")],
                 ["run", *SAC, "--results", str(tmp_path / "r2"), "--mongo", url.replace("mongodb://", "http://")]):
        shown = run_cli(*args)
        assert "***" in shown.stdout + shown.stderr or shown.returncode == 0, shown.stderr
        assert PASSWORD not in shown.stdout + shown.stderr
    assert not files_holding(tmp_path / "tables", PASSWORD)


def test_mongodb_srv_urls_are_taken_and_their_password_is_not_shown(tmp_path):
    """The host does not exist, so the run fails to connect; the URL is accepted and never echoed."""
    results = tmp_path / "results"
    proc = run_cli("run", *SAC, "--results", str(results), "--mongo",
                   f"mongodb+srv://gapuser:{SRV_PASSWORD}@cluster0.gapbench.invalid/secrets")
    assert "must be a mongodb://" not in proc.stderr
    assert SRV_PASSWORD not in proc.stdout + proc.stderr and not files_holding(results, SRV_PASSWORD)
    assert "FAILED" in proc.stdout + proc.stderr
