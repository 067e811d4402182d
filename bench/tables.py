"""The side-by-side table (terminal and Markdown) and the targets' lines for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from bench.measure import Run
from bench.results import Result
from bench.targets import Target


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.1f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min"


def _ratio(reference: float, connector: float) -> str:
    if connector <= 0 or reference <= 0:
        return ""
    return f"{reference / connector:,.1f}x"


HEADER = (
    "data set",
    "run",
    "pacing",
    "API calls",
    "wall time",
    "records",
    "records/s",
    "CPU s",
    "peak RSS MB",
    "at 2 calls/s",
    "throttled",
    "complete",
)


def table_rows(results: list[Result]) -> list[tuple[str, ...]]:
    """Rows of the side-by-side table: connector, reference, ratio, per data set."""
    rows: list[tuple[str, ...]] = []
    for result in results:
        expected = result.expected
        title = result.data_set.short
        for run in (result.connector, result.reference):
            if run is None:
                continue
            if run.ran:
                rows.append(
                    (
                        title,
                        run.source,
                        run.budget,
                        f"{run.calls:,}",
                        duration(run.wall_s),
                        f"{run.total_records:,}",
                        f"{run.records_per_s:,.0f}",
                        f"{run.cpu_s:.1f}",
                        f"{run.peak_rss_mb:.0f}",
                        duration(run.projected_s),
                        str(run.rate_limited),
                        "yes" if run.complete(expected) else failure(run),
                    )
                )
            else:
                rows.append(
                    (
                        title,
                        run.source,
                        "projected, not run",
                        f"{run.calls:,}",
                        "",
                        f"{sum(expected.values()):,}",
                        "",
                        "",
                        "",
                        duration(run.projected_s),
                        "",
                        "",
                    )
                )
            title = ""
        reference = result.reference
        if reference is not None:
            connector = result.connector
            rows.append(
                (
                    "",
                    "reference / connector",
                    "",
                    _ratio(reference.calls, connector.calls),
                    _ratio(reference.wall_s, connector.wall_s) if reference.ran else "",
                    "",
                    "",
                    _ratio(reference.cpu_s, connector.cpu_s) if reference.ran else "",
                    _ratio(reference.peak_rss_mb, connector.peak_rss_mb) if reference.ran else "",
                    _ratio(reference.projected_s, connector.projected_s),
                    "",
                    "",
                )
            )
    return rows


def failure(run: Run) -> str:
    if run.timed_out:
        return "TIMED OUT"
    if run.exit_code != 0 or run.error_messages:
        return f"FAILED (exit {run.exit_code})"
    return "NO (record counts differ)"


def text_table(rows: list[tuple[str, ...]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(HEADER[i]), *(len(r[i]) for r in rows)) for i in range(len(HEADER))]
    numeric = set(range(3, len(HEADER) - 1))

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    out = [line(HEADER), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def markdown_table(rows: list[tuple[str, ...]]) -> str:
    """The same table in Markdown."""
    out = [
        "| " + " | ".join(HEADER) + " |",
        "|"
        + "|".join("---:" if 3 <= i < len(HEADER) - 1 else "---" for i in range(len(HEADER)))
        + "|",
    ]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


def targets_text(targets: list[Target]) -> str:
    """Targets for the terminal."""
    return "\n".join(
        f"  [{'MET' if t.met else 'NOT MET'}] {t.name}: {t.requirement} -> {t.measured}"
        for t in targets
    )
