"""The one Markdown renderer every benchmark's report uses: tables, percentile cells, shares.

A table is a header, a rule and rows, each line `| cell | cell |`; a report is a list of lines joined
by newlines. Cells are given as text, so each report keeps its own number formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Align = str
"""A column's rule: `---` (as written, left), or `---:` (right, for numbers)."""


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, align: Sequence[Align] = ()
) -> list[str]:
    """The lines of a Markdown table: `header`, its rule (`align`, `---` per column by default), `rows`."""
    rule = list(align) or ["---"] * len(header)
    return [_line(header), "|" + "|".join(rule) + "|", *(_line(r) for r in rows)]


def pct(part: int, whole: int) -> str:
    """`part` as a whole percentage of `whole` (`12 %`), or `-` when there is no whole."""
    return f"{100 * part / whole:.0f} %" if whole else "-"


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
