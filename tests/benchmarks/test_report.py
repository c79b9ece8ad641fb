"""The one Markdown renderer of the benchmarks: tables, percentile cells, shares."""

from __future__ import annotations

from benchmarks.lib.report import SUMMARY_HEADER, key_value_table, pct, summary_cells, table
from benchmarks.lib.stats import summarize


def test_a_table_is_its_header_a_rule_and_one_line_per_row() -> None:
    lines = table(["clip", "n"], [["hello", 3], ["bye", ""]])

    assert lines == ["| clip | n |", "|---|---|", "| hello | 3 |", "| bye |  |"]


def test_a_column_can_be_right_aligned() -> None:
    assert table(["endpoint", "req/s"], [], align=["---", "---:"])[1] == "|---|---:|"


def test_a_summary_gives_n_and_the_percentiles_in_the_header_s_order() -> None:
    summary = summarize([100.0, 200.0, 300.0])

    assert SUMMARY_HEADER == ["n", "p50", "p90", "p99", "min", "max"]
    assert summary_cells(summary) == ["3", "200", "280", "298", "100", "300"]
    assert summary_cells(None) == ["0", "-", "-", "-", "-", "-"]


def test_a_share_is_a_whole_percentage_and_a_dash_without_a_whole() -> None:
    assert pct(1, 3) == "33 %"
    assert pct(0, 0) == "-"


def test_a_key_value_table_has_an_empty_header() -> None:
    assert key_value_table([("CPU", "x86, 2 cores")]) == ["| | |", "|---|---|", "| CPU | x86, 2 cores |"]
