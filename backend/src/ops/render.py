"""Console rendering for the CLI: the graded KPI table and the smoke run's progress bar.

Kept out of the library (``data.kpis`` grades, this only draws) so that importing the feed never
imports a terminal toolkit's layout code; the CLI imports this when it prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..data.kpis import KpiRow

_HEADERS = ("KPI", "target", "measured", "status")


def _cells(row: KpiRow) -> tuple[str, str, str, str]:
    measured = row.measured if isinstance(row.measured, str) else f"{row.measured:.6g} {row.unit}"
    return row.name, f"{row.target} {row.unit}", measured, "PASS" if row.passed else "FAIL"


def format_kpi_table(rows: Iterable[KpiRow], title: str = "Feed health KPIs") -> Table:
    """Rich table of the graded KPIs, status in green/red, for the CLI to print."""
    table = Table(title=title)
    for header in _HEADERS:
        table.add_column(header, justify="left" if header == "KPI" else "right")
    for row in rows:
        *cells, status = _cells(row)
        table.add_row(*cells, f"[{'green' if row.passed else 'bold red'}]{status}[/]")
    return table


def format_kpi_text(rows: Iterable[KpiRow]) -> str:
    """The same table as plain aligned text (logs, non-terminal output)."""
    lines = [_HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADERS))]
    return "\n".join(
        "  ".join([name.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
        for name, *rest in lines
    )


@contextlib.contextmanager
def smoke_progress(console: Console, duration_s: float) -> Iterator[Callable[[float, dict[str, Any]], None]]:
    """A progress bar over a smoke run; yields the ``progress(elapsed_s, totals)`` callback
    ``SmokeRun`` calls about once a second."""
    columns = (TextColumn("smoke"), BarColumn(), TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, refresh_per_second=2) as progress:
        task = progress.add_task("starting", total=duration_s)

        def show(elapsed: float, totals: dict[str, Any]) -> None:
            progress.update(
                task,
                completed=elapsed,
                description=(
                    f"md={totals['delivered']} dropped={totals['dropped']} reconnects={totals['reconnects']} "
                    f"worst uptime={totals['worst_uptime_pct']}%"
                ),
            )

        yield show
