"""The paper's order and names for methods, datasets and gaps, and one colour per method.

Only the paper's own names are listed here; anything else in a store (a new baseline, another
dataset or gap) is placed after them in a stable sorted order, so no analysis code changes when a
method is registered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module for every `gapbench` command; pandas is slow to import
    import pandas as pd

TABLE1_ORDER = ("sac", "cql", "darc", "darc+", "h2o")  # the paper's Table 1 columns
ABLATION_ORDER = ("h2o", "h2o-a", "h2o-dr", "h2o-a-dr", "h2o-reg", "h2o-reg-dr")  # Table 2, then CQL and SAC
TABLE2_REFERENCES = ("cql", "sac")
# The roles a method is registered with (algos/registry.py, which analysis may not import: a store is
# read where gapbench's learning code may not be installed). Table 1 shows every role but
# "ablation", in this order; a role not listed here (a store from a newer gapbench) comes last.
ROLE_ORDER = ("baseline", "field", "extra", "ablation")
DATASET_ORDER = ("medium", "medium-replay", "medium-expert", "expert")
GAP_KIND_ORDER = ("gravity", "friction", "joint_noise")  # the paper's Table 1 gaps
TABLE2_CELL = ("medium-replay", "gravity:2.0")  # the paper's ablation setting (Sec. 6.4)


def methods_table(final: pd.DataFrame) -> pd.DataFrame:
    """Name, label and role of every method in a frame, one row each."""
    return final[["method", "label", "role"]].drop_duplicates("method").set_index("method")


def table1_methods(methods: pd.DataFrame) -> list[str]:
    """Every method but the ablations: the paper's five first, then the others by role (any other
    baseline, the field's newer baselines, then the rest), each role by label."""
    names = [m for m in methods.index if methods.loc[m, "role"] != "ablation"]
    paper = [m for m in TABLE1_ORDER if m in names]
    rest = sorted((m for m in names if m not in TABLE1_ORDER),
                  key=lambda m: (_role_rank(methods.loc[m, "role"]), methods.loc[m, "label"]))
    return paper + rest


def table2_methods(methods: pd.DataFrame) -> list[str]:
    """H2O and its ablations in the paper's order, any new ablation, then CQL and SAC."""
    names = [m for m in methods.index if methods.loc[m, "role"] == "ablation" or m in ABLATION_ORDER]
    ordered = _paper_first(names, ABLATION_ORDER, methods)
    return ordered + [m for m in TABLE2_REFERENCES if m in methods.index]


def all_methods(methods: pd.DataFrame) -> list[str]:
    """Every method, Table 1's then Table 2's: the order of the legend and of the colours."""
    first = table1_methods(methods)
    return first + [m for m in table2_methods(methods) if m not in first]


def method_colors(methods: pd.DataFrame) -> dict[str, tuple]:
    """Label -> colour, fixed by the store's method set, so every figure of one store agrees."""
    import seaborn as sns

    labels = [methods.loc[m, "label"] for m in all_methods(methods)]
    palette = sns.color_palette("colorblind", 10) + sns.color_palette("dark", 10) + sns.color_palette("pastel", 10)
    return {label: palette[i % len(palette)] for i, label in enumerate(labels)}


def order_datasets(datasets: Iterable[str]) -> list[str]:
    return sorted(set(datasets), key=lambda d: (DATASET_ORDER.index(d) if d in DATASET_ORDER else len(DATASET_ORDER), d))


def order_gaps(gaps: Iterable[str]) -> list[str]:
    def key(gap: str) -> tuple:
        kind = gap.split(":", 1)[0]
        rank = GAP_KIND_ORDER.index(kind) if kind in GAP_KIND_ORDER and "+" not in gap else len(GAP_KIND_ORDER)
        return rank, gap

    return sorted(set(gaps), key=key)


def dataset_name(dataset: str) -> str:
    """`medium-replay` -> `Medium Replay`, as the paper writes it."""
    return dataset.replace("-", " ").replace("_", " ").title()


def gap_name(gap: str) -> str:
    """`joint_noise:1.0` -> `Joint Noise 1.0`; a composition joins its parts with ` + `."""
    parts = []
    for part in gap.split("+"):
        kind, _, params = part.partition(":")
        words = kind.replace("_", " ").title()
        value, _, variant = params.partition(":")
        parts.append(" ".join(x for x in (words, value, f"({variant})" if variant else "") if x))
    return " + ".join(parts)


def cell_name(task: str, dataset: str | None, gap: str | None, with_task: bool) -> str:
    """`halfcheetah / Medium Replay / Gravity 2.0`: a Table 1 row as a panel title or a note names it;
    the task only where several share the figure or note, an axis the method ignores left out."""
    parts = (task if with_task else "", dataset_name(dataset) if dataset else "", gap_name(gap) if gap else "")
    return " / ".join(x for x in parts if x)


def _role_rank(role: str) -> int:
    return ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)


def _paper_first(names: list[str], paper: tuple[str, ...], methods: pd.DataFrame) -> list[str]:
    known = [m for m in paper if m in names]
    return known + sorted((m for m in names if m not in paper), key=lambda m: methods.loc[m, "label"])
