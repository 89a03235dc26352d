"""Table 1's columns come from the roles a store records, not from a list of the paper's methods:
the paper's five in its order, then the field's newer baselines, then any other method."""

from __future__ import annotations

import pandas as pd

from gapbench.analysis.layout import ROLE_ORDER, methods_table, table1_methods, table2_methods


def _frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "label": label, "role": role} for m, label, role in rows])


def test_table1_puts_the_paper_first_then_the_field_then_the_rest():
    frame = _frame([("bc", "BC(real)", "extra"), ("td3+bc", "TD3+BC(real)", "field"), ("h2o", "H2O", "baseline"),
                    ("iql", "IQL(real)", "field"), ("sac", "SAC(sim)", "baseline"), ("h2o-a", "H2O-a", "ablation"),
                    ("par", "PAR", "field"), ("new", "A-new", "role-from-a-newer-gapbench"),
                    ("other", "Another baseline", "baseline")])
    methods = methods_table(frame)
    assert table1_methods(methods) == ["sac", "h2o", "other", "iql", "par", "td3+bc", "bc", "new"]
    assert "iql" not in table2_methods(methods) and "h2o-a" in table2_methods(methods)


def test_the_layout_knows_every_role_the_registry_offers():
    """analysis may not import algos at run time; this test may, to keep the two lists in step."""
    from gapbench.algos.registry import ROLES

    assert set(ROLE_ORDER) == set(ROLES)
