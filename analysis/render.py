"""A `Table` as Markdown (tabulate's github format), LaTeX (booktabs) and CSV (the exact numbers)."""

from __future__ import annotations

import math
from pathlib import Path

from tabulate import tabulate

from gapbench.analysis.errors import AnalysisError
from gapbench.analysis.tables import SWITCH_ROWS, Cell, Table

FORMATS = {"md": "Markdown", "tex": "LaTeX", "csv": "CSV"}
MISSING, DAGGER = "–", "†"

TEX_SWITCH_ROWS = dict(zip(SWITCH_ROWS, (r"Adaptive $\omega$", r"Uniform $\omega$",
                                         r"Modified $\tilde{\mathcal{E}}(Q, \hat{\mathcal{B}}^\pi \hat{Q})$")))
TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
TEX_SYMBOLS = {"±": r"$\pm$", "–": "--", "−": "$-$", "†": r"$^\dagger$", "✓": r"\checkmark", "✗": r"$\times$",
               "ω": r"$\omega$", "≥": r"$\geq$"}


def number(value: float, spec: str = ".2f") -> str:
    """One value of a printed table: MISSING where it is undefined (NaN)."""
    return MISSING if math.isnan(value) else format(value, spec)


def parse_formats(text: str) -> list[str]:
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise AnalysisError(f"unknown table format {', '.join(unknown) or repr(text)}; valid formats: "
                            f"{', '.join(FORMATS)}")
    return formats


def write(table: Table, out: Path, formats: list[str]) -> list[Path]:
    """Writes `<out>/<name>[-normalized].<ext>` for each format; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = table.name + ("-normalized" if table.metric == "normalized" else "")
    writers = {"md": markdown, "tex": latex, "csv": lambda t: t.to_frame().to_csv(index=False)}
    paths = []
    for fmt in formats:
        path = out / f"{stem}.{fmt}"
        path.write_text(writers[fmt](table))
        paths.append(path)
    return paths


def markdown(table: Table) -> str:
    digits = decimals(table)
    width = len(table.row_header)
    body = [[label] + [""] * (width - 1) + list(values) for label, values in table.text_rows]
    for row, cells, bold in zip(blank_repeats(table.rows), table.cells, table.bold()):
        body.append(list(row) + [_md_cell(c, digits, b, table.expected_seeds, table.show_ci)
                                 for c, b in zip(cells, bold)])
    grid = tabulate(body, headers=[*table.row_header, *table.labels], tablefmt="github", disable_numparse=True)
    return f"**{table.title}**\n\n{grid}\n\n" + "".join(f"- {note}\n" for note in table.footnotes())


def latex(table: Table) -> str:
    digits = decimals(table)
    width = len(table.row_header)
    lines = [f"% {table.title}. Written by `gapbench tables`; needs \\usepackage{{booktabs}}"
             + (" and amssymb" if table.text_rows else "") + ".",
             r"\begin{table}[t]", r"\centering", rf"\caption{{{tex(table.caption)}}}", rf"\label{{tab:{table.name}}}",
             rf"\begin{{tabular}}{{{'l' * width}{'c' * len(table.labels)}}}", r"\toprule",
             " & ".join([tex(h) for h in table.row_header] + [tex(x) for x in table.labels]) + r" \\", r"\midrule"]
    for label, values in table.text_rows:
        lines.append(" & ".join([TEX_SWITCH_ROWS.get(label, tex(label))] + [""] * (width - 1)
                                + [tex(v) for v in values]) + r" \\")
    if table.text_rows:
        lines.append(r"\midrule")
    shown = blank_repeats(table.rows)
    for i, (row, cells, bold) in enumerate(zip(shown, table.cells, table.bold())):
        if i and row[0]:
            lines.append(r"\midrule")
        lines.append(" & ".join([tex(x) for x in row] + [_tex_cell(c, digits, b, table.expected_seeds, table.show_ci)
                                                          for c, b in zip(cells, bold)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "", r"\smallskip", r"\footnotesize",
              " \\\\\n".join(tex(note) for note in table.footnotes()), r"\end{table}", ""]
    return "\n".join(lines)


def decimals(table: Table) -> int:
    """Enough decimals that the smallest std shows two significant digits (the paper's returns: none)."""
    stds = [c.std for row in table.cells for c in row if c.std > 0]
    if not stds:
        return 1
    return min(3, max(0, 1 - math.floor(math.log10(min(stds)))))


def blank_repeats(rows: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """Leading row labels are shown only where they change, as the paper shows each dataset once."""
    shown, previous = [], None
    for row in rows:
        same = 0
        while previous is not None and same < len(row) - 1 and row[same] == previous[same]:
            same += 1
        shown.append(("",) * same + row[same:])
        previous = row
    return shown


def tex(text: str) -> str:
    escaped = "".join(TEX_ESCAPES.get(ch, ch) for ch in text)
    return "".join(TEX_SYMBOLS.get(ch, ch) for ch in escaped)


def _number(cell: Cell, digits: int, pm: str, ci: bool) -> str:
    text = f"{cell.mean:.{digits}f}"
    if math.isnan(cell.std):
        return text
    text = f"{text}{pm}{cell.std:.{digits}f}"
    return text + (" [{:.{d}f}, {:.{d}f}]".format(*cell.ci95(), d=digits) if ci else "")


def _md_cell(cell: Cell, digits: int, bold: bool, expected: int, ci: bool) -> str:
    if cell.n == 0:
        return MISSING
    text = _number(cell, digits, " ± ", ci)
    text = f"**{text}**" if bold else text
    return text + (DAGGER if cell.n < expected else "")


def _tex_cell(cell: Cell, digits: int, bold: bool, expected: int, ci: bool) -> str:
    if cell.n == 0:
        return "--"
    text = _number(cell, digits, r" \pm ", ci)
    text = rf"$\mathbf{{{text}}}$" if bold else f"${text}$"
    return text + (r"$^\dagger$" if cell.n < expected else "")
