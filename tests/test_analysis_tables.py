"""`gapbench tables` on a store built from real runs: rows, columns, seeds, the numbers, the bold rule."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics

import pandas as pd
import pytest

from gapbench.analysis.cli import register
from gapbench.analysis.render import markdown
from gapbench.analysis.runs import final_scores, load_runs
from gapbench.analysis.tables import Cell, bold_rule, switches, table1
from tests.analysis_support import (
    SEEDS,
    STEPS,
    hand_scores,
    read_csv,
    run_folders,
    store_env,
)
from tests.cli_support import TINY_DATA, TINY_TRAIN, run_cli

TABLE1_LABELS = ["SAC(sim)", "CQL(real)", "DARC", "DARC+", "H2O", "BC(real)"]  # paper order, then the extra
ROWS = [("Medium Replay", "Gravity 2.0"), ("Medium Replay", "Friction 0.3"), ("Medium Replay", "Velocity Offset 0.1")]


@pytest.fixture(scope="module")
def tables(results_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables")
    proc = run_cli("tables", "--results", str(results_store), "--out", str(out), check=True)
    return out, proc


def cells(path) -> dict[tuple, dict]:
    return {(r["Dataset"], r["Dynamics gap"], r["label"]): r for r in read_csv(path)}


def test_table1_has_the_papers_rows_columns_and_seed_counts(tables):
    out, proc = tables
    got = cells(out / "table1.csv")
    assert list(dict.fromkeys(label for _, _, label in got)) == TABLE1_LABELS
    assert list(dict.fromkeys((d, g) for d, g, _ in got)) == ROWS
    for dataset, gap in ROWS[:2]:
        assert all(got[(dataset, gap, label)]["n_seeds"] == "2" for label in TABLE1_LABELS)
    # The Figure 3 run adds a velocity-offset row: H2O with one seed, the gap-free methods with two,
    # and no run at all of the sim-only methods there.
    velocity = {label: int(got[(*ROWS[2], label)]["n_seeds"]) for label in TABLE1_LABELS}
    assert velocity == {"SAC(sim)": 0, "CQL(real)": 2, "DARC": 0, "DARC+": 0, "H2O": 1, "BC(real)": 2}
    assert all(r["expected_seeds"] == "2" for r in got.values())
    md = (out / "table1.md").read_text()
    assert md in proc.stdout  # printed to the terminal too
    header = next(line for line in md.splitlines() if line.startswith("| Dataset"))
    assert [h.strip() for h in header.strip("|").split("|")] == ["Dataset", "Dynamics gap", *TABLE1_LABELS]
    velocity_line = next(line for line in md.splitlines() if "Velocity Offset 0.1" in line)
    assert velocity_line.count("–") == 3 and velocity_line.count("†") == 1
    assert "6 seeds missing" in md and "fewer than the expected 2 seeds: H2O on Medium Replay / Velocity" in md


def test_a_cell_is_the_mean_and_std_of_the_run_folders(tables, results_store):
    out, _ = tables
    got = cells(out / "table1.csv")
    for method, label, dataset, gap, row in [("h2o", "H2O", "medium-replay", "gravity:2.0", ROWS[0]),
                                              ("darc+", "DARC+", "medium-replay", "friction:0.3", ROWS[1]),
                                              ("sac", "SAC(sim)", None, "friction:0.3", ROWS[1]),
                                              ("cql", "CQL(real)", "medium-replay", None, ROWS[0]),
                                              ("cql", "CQL(real)", "medium-replay", None, ROWS[2])]:
        scores = list(hand_scores(results_store, method, dataset, gap).values())
        cell = got[(*row, label)]
        assert len(scores) == int(cell["n_seeds"])
        assert float(cell["mean"]) == pytest.approx(statistics.mean(scores), rel=1e-12)
        assert float(cell["std"]) == pytest.approx(statistics.stdev(scores), rel=1e-12)
    # The Markdown shows the same numbers, rounded to the table's precision.
    h2o = list(hand_scores(results_store, "h2o", "medium-replay", "gravity:2.0").values())
    md_line = next(line for line in (out / "table1.md").read_text().splitlines() if "Gravity 2.0" in line)
    digits = len(md_line.split("|")[7].strip(" *†").split(" ± ")[0].partition(".")[2])
    assert f"{statistics.mean(h2o):.{digits}f} ± {statistics.stdev(h2o):.{digits}f}" in md_line.split("|")[7]


def test_bolding_follows_the_rule_in_every_format(tables):
    out, _ = tables
    frame = pd.DataFrame(read_csv(out / "table1.csv"))
    md_lines = [line for line in (out / "table1.md").read_text().splitlines() if line.startswith("| Medium")]
    for (dataset, gap), line in zip(ROWS, md_lines):
        row = frame[(frame["Dataset"] == dataset) & (frame["Dynamics gap"] == gap)]
        expected = bold_rule(row["mean"].astype(float), row["std"].astype(float))
        assert list(row["bold"] == "True") == list(expected)
        shown = [c.strip().startswith("**") for c in line.strip("|").split("|")[2:]]
        assert shown == list(expected)
        assert any(shown)
    tex = (out / "table1.tex").read_text()
    assert tex.count(r"\mathbf{") == (frame["bold"] == "True").sum()
    assert all(s in tex for s in (r"\toprule", r"\midrule", r"\bottomrule", r"$^\dagger$"))


def test_bold_rule_on_hand_made_rows():
    # The paper's Medium-Expert / Gravity row: DARC is best (4759 ± 353), so everything >= 4406 is bold,
    # SAC(sim) included (the paper does not bold it: its own bolding is inconsistent).
    paper = pd.DataFrame({"mean": [4513, 3748, 4759, 72, 4707], "std": [513, 892, 353, 109, 779]})
    assert list(bold_rule(paper["mean"], paper["std"])) == [True, False, True, False, True]
    # The best one's std is the margin, not the others': 90 is not within 5 of 100, even with std 50.
    assert list(bold_rule(pd.Series([100.0, 90.0]), pd.Series([5.0, 50.0]))) == [True, False]
    assert list(bold_rule(pd.Series([100.0, 95.0]), pd.Series([5.0, 0.0]))) == [True, True]  # the boundary counts
    # Missing cells are never bold; a best cell with one seed (no std) bolds only its ties.
    assert list(bold_rule(pd.Series([1.0, math.nan, 1.0, 0.5]), pd.Series([math.nan, math.nan, math.nan, 9.0]))
                ) == [True, False, True, False]
    assert list(bold_rule(pd.Series([math.nan]), pd.Series([math.nan]))) == [False]


def test_cell_statistics_and_a_hand_made_table():
    cell = Cell((0, 1, 2), (1.0, 2.0, 6.0))
    assert (cell.mean, cell.std) == (3.0, pytest.approx(statistics.stdev([1.0, 2.0, 6.0])))
    assert math.isnan(Cell((0,), (4.0,)).std)
    final = pd.DataFrame([
        {"method": m, "label": m.upper(), "role": "baseline", "task": "t", "dataset": "medium", "gap": "gravity:2.0",
         "seed": s, "step": 1000, "return": r, "normalized": r / 10}
        for m, rs in (("h2o", [10.0, 12.0]), ("darc", [11.0])) for s, r in enumerate(rs)])
    table = table1(final)
    assert table.labels == ("DARC", "H2O") and table.expected_seeds == 2
    text = markdown(table)
    row = next(line for line in text.splitlines() if line.startswith("| Medium"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["Medium", "Gravity 2.0", "**11.0**†", "**11.0 ± 1.4**"]
    assert "fewer than the expected 2 seeds: DARC on Medium / Gravity 2.0 (1 seed)" in text
    assert "Budget: 1,000 updates per run in every cell." in text


def test_a_table_whose_cells_ran_at_different_budgets_names_every_exception():
    """Rows of one table may come from studies at different budgets; the footnote must say which."""
    final = pd.DataFrame([
        {"method": m, "label": m.upper(), "role": "baseline", "task": "t", "dataset": d, "gap": "gravity:2.0",
         "seed": s, "step": steps, "return": 1.0, "normalized": 0.1}
        for m, d, steps in (("h2o", "medium", 100), ("darc", "medium", 100), ("h2o", "medium-replay", 100),
                            ("darc", "medium-replay", 50)) for s in (0, 1)])
    notes = [n for n in table1(final).footnotes() if n.startswith("Budget")]
    assert notes == ["Budget: 100 updates per run, except 50 for DARC on Medium Replay / Gravity 2.0."]


def test_a_cell_pooling_seeds_of_two_data_files_says_which_seed_trained_on_which():
    """One recipe made on two CPU kinds gives two files; a cell pooling them must say so, seed by seed."""
    intel, epyc = "2f8d4efb072fdb11" + "0" * 48, "3098a93ed1c17265" + "1" * 48
    data = {("h2o", 0): epyc, ("h2o", 1): None, ("h2o", 2): intel, ("darc", 0): intel, ("darc", 1): intel}
    final = pd.DataFrame([
        {"method": m, "label": m.upper(), "role": "baseline", "task": "t", "dataset": "medium", "gap": "gravity:2.0",
         "seed": s, "step": 100, "return": 1.0, "normalized": 0.1, "data": digest}
        for (m, s), digest in data.items()])
    notes = [n for n in table1(final).footnotes() if n.startswith("Data")]
    assert notes == [("Data: these cells pool seeds trained on different data files of one recipe (by the digest "
                      "each run recorded): H2O on Medium / Gravity 2.0: 3098a93ed1c17265 (seed 0), not recorded "
                      "(seed 1), 2f8d4efb072fdb11 (seed 2).")]
    one_file = final.assign(data=intel)
    assert not [n for n in table1(one_file).footnotes() if n.startswith("Data")]
    # a method that ignores the gap fills every gap's row: its pooling is named once, with its rows
    cql = pd.DataFrame([{"method": "cql", "label": "CQL", "role": "baseline", "task": "t", "dataset": "medium",
                         "gap": None, "seed": s, "step": 100, "return": 1.0, "normalized": 0.1, "data": d}
                        for s, d in ((0, None), (1, intel))])
    other_gap = one_file.assign(gap="friction:0.3")
    notes = [n for n in table1(pd.concat([one_file, other_gap, cql])).footnotes() if n.startswith("Data")]
    assert notes == [("Data: these cells pool seeds trained on different data files of one recipe (by the digest "
                      "each run recorded): CQL on Medium / Gravity 2.0, Medium / Friction 0.3: not recorded "
                      "(seed 0), 2f8d4efb072fdb11 (seed 1).")]


def test_table2_switch_rows_come_from_the_recorded_configs(tables):
    out, _ = tables
    lines = [line for line in (out / "table2.md").read_text().splitlines() if line.startswith("|")]
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    assert header == ["", "H2O", "H2O-a", "H2O-reg", "CQL(real)", "SAC(sim)"]
    rows = {cols[0]: cols[1:] for cols in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    assert rows["Adaptive ω"] == ["✓", "✗", "-", "-", "-"]
    assert rows["Uniform ω"] == ["✗", "✓", "-", "-", "-"]
    assert rows["Modified Ẽ(Q, B̂πQ̂)"] == ["✓", "✓", "✓", "-", "-"]
    assert all(c != "–" for c in rows["Average Return"])
    assert switches({"adaptive_omega": False, "value_regulariser": True, "dynamics_ratio_weight": False}) == ("✗", "✓", "✗")
    assert switches({"adaptive_omega": True, "value_regulariser": False, "dynamics_ratio_weight": False}) == ("-", "-", "✗")


def test_table2_cell_flags_and_normalised_metric(results_store, tmp_path):
    run_cli("tables", "--results", str(results_store), "--out", str(tmp_path), "--metric", "normalized",
            "--format", "csv", "--table2-gap", "friction:0.3", "--expect-seeds", "3", check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table1-normalized.csv", "table2-normalized.csv"]
    t2 = read_csv(tmp_path / "table2-normalized.csv")
    h2o = next(r for r in t2 if r["method"] == "h2o")
    hand = hand_scores(results_store, "h2o", "medium-replay", "friction:0.3", "final_normalized")
    assert float(h2o["mean"]) == pytest.approx(statistics.mean(hand.values()), rel=1e-12)
    assert all(r["expected_seeds"] == "3" and r["metric"] == "normalized" for r in t2)


def test_a_new_method_becomes_a_column_with_no_code_change(results_store, tmp_path):
    """Only the store names a method: relabel BC's runs as an unknown method and it gets a column."""
    store = tmp_path / "results"
    shutil.copytree(results_store, store)
    for folder in (store / "runs").iterdir():
        if (folder / "info.json").exists():
            config, info = (json.loads((folder / f).read_text()) for f in ("config.json", "info.json"))
            if config["method"] == "bc":
                config["method"], info["method"]["name"], info["method"]["label"] = "awac", "awac", "AWAC(new)"
                (folder / "config.json").write_text(json.dumps(config))
                (folder / "info.json").write_text(json.dumps(info))
    proc = run_cli("tables", "--results", str(store), "--out", str(tmp_path / "t"), "--format", "md", check=True)
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| Dataset"))
    assert header.split("|")[-2].strip() == "AWAC(new)" and "BC(real)" not in header


def test_a_bf16_run_gets_its_own_column_beside_fp32_never_pooled_with_it_nor_in_its_place(results_store, tmp_path):
    """Precision is part of a run's identity: CQL trained in bf16 into a store that holds CQL in fp32
    becomes its own column, each column the mean of its own precision's runs, and neither hides the
    other (a cell with two configs would otherwise keep only the newest, with a warning)."""
    store = tmp_path / "results"
    shutil.copytree(results_store, store)
    run_cli("run", "--methods", "cql", "--datasets", "medium-replay", "--seeds", SEEDS, "--steps", STEPS,
            "--population", "2", "--results", str(store), *TINY_DATA, *TINY_TRAIN, "--with", "precision=bf16",
            env=store_env(results_store.parents[1]), check=True)
    proc = run_cli("tables", "--results", str(store), "--out", str(tmp_path / "t"), "--format", "csv", check=True)
    assert "different configs" not in proc.stderr, proc.stderr
    row = {r["label"]: r for r in read_csv(tmp_path / "t" / "table1.csv")
           if (r["Dataset"], r["Dynamics gap"]) == ("Medium Replay", "Gravity 2.0")}
    fp32 = hand_scores(results_store, "cql", "medium-replay", None)  # the copied store held fp32 CQL only
    bf16 = {seed: value for doc in run_folders(store).values() if doc["config"]["train"]["precision"] == "bf16"
            for seed, value in zip(doc["run"]["result"]["seeds"], doc["run"]["result"]["final_return"])}
    assert sorted(bf16) == sorted(fp32) == [int(s) for s in SEEDS.split(",")]
    assert float(row["CQL(real)"]["mean"]) == pytest.approx(statistics.mean(fp32.values()), rel=1e-12)
    assert float(row["CQL(real) bf16"]["mean"]) == pytest.approx(statistics.mean(bf16.values()), rel=1e-12)


def test_user_errors_are_one_line(results_store, tmp_path, capsys):
    proc = run_cli("tables", "--results", str(results_store), "--out", str(tmp_path), "--format", "md,docx")
    assert proc.returncode == 2 and proc.stderr == "gapbench: error: unknown table format docx; valid formats: md, tex, csv\n"
    # The same handler in-process, through the parser `register` builds.
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    for argv, message in [(["--results", str(results_store), "--expect-seeds", "0"], "--expect-seeds must be positive"),
                          (["--results", str(tmp_path / "nowhere")], "no results store at")]:
        args = parser.parse_args(["tables", *argv])
        assert args.handler(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("gapbench: error: ") and message in err and err.count("\n") == 1


def test_load_runs_frame_has_one_row_per_run_seed_and_evaluation(results_store):
    frame = load_runs(results_store)
    assert set(frame["status"]) == {"COMPLETED"} and frame["counted"].all()
    evals = frame[frame["phase"] == "eval"]
    assert sorted(evals["step"].unique()) == [0, 50]
    assert not evals.duplicated(["run_id", "seed", "step"]).any()
    final = final_scores(frame)
    assert not final.duplicated(["method", "task", "dataset", "gap", "seed"]).any()
    assert len(final) == 2 * (2 + 1 + 2 + 2 + 2 + 2 + 2 + 1) + 1  # seeds x cells per method, + Figure 3's run
    assert final.loc[final["method"] == "h2o-a", "config.algo.adaptive_omega"].eq(False).all()
    assert final["dataset"].isna().sum() == 4  # SAC(sim) ignores the dataset
    assert final["gap"].isna().sum() == 4  # CQL(real) and BC(real) ignore the gap
