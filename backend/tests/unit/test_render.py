"""Console rendering of graded KPIs: aligned text and the rich table."""

from __future__ import annotations

import io

from rich.console import Console

from backend.src.data.kpis import kpi_report
from backend.src.ops.render import format_kpi_table, format_kpi_text

from .test_kpis import totals_snapshot


def test_kpi_renderers() -> None:
    rows = kpi_report(totals_snapshot(drop=0.5, recovery=None))
    text = format_kpi_text(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["KPI", "target", "measured", "status"]
    assert len(lines) == 5 and len({len(line) for line in lines}) == 1  # aligned columns
    assert "0.5 %" in lines[1] and lines[1].endswith("FAIL")
    assert "n/a" in lines[4] and lines[4].endswith("PASS")

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(format_kpi_table(rows))
    rendered = out.getvalue()
    assert "dropped messages" in rendered and "FAIL" in rendered and "≥ 99 %" in rendered
