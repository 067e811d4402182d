"""The demo's answers as one self-contained HTML page: tables and bar charts in inline SVG.

Nothing is fetched when the page is opened (no script, no stylesheet, no font, no image from
anywhere): it can be mailed or attached to a ticket as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from demo.answers import QUESTIONS, Answer, cell, first_reply_rows

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .2em .7em; border-bottom: 1px solid #ddd; text-align: left; }
td { white-space: nowrap; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; } details pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"""


def bar_chart(
    labels: Sequence[str], values: Sequence[float], title: str, width: int = 720, height: int = 220
) -> str:
    """A vertical bar chart as an inline ``<svg>``, one bar per label, the largest value marked."""
    if not values:
        return ""
    left, bottom, top = 36, 36, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max(values) or 1
    step = plot_w / len(values)
    bars: list[str] = []
    every = max(1, len(labels) // 12)  # at most about 12 labels under the axis
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / peak
        x = left + i * step
        bars.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h:.1f}" fill="#3b6fb6"><title>{escape(label)}: {value:g}</title></rect>'
        )
        if i % every == 0:
            bars.append(
                f'<text x="{x + step / 2:.1f}" y="{height - bottom + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    axis = (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        'stroke="#999"/>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:g}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{axis}{''.join(bars)}</svg>"
    )


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; numbers right-aligned."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(cell(v))}</td>'
            if isinstance(v, (int, float))
            else f"<td>{escape(cell(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(answers: dict[str, Answer], subtitle: str) -> str:
    """The whole page."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Meta conversations: answers</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Meta conversations: what a support lead asks</h1>",
        f'<p class="note">{escape(subtitle)}</p>',
    ]
    for question in QUESTIONS:
        answer = answers[question.key]
        parts.append(f"<h2>{escape(question.title)}</h2>")
        if question.key == "per_day":
            days = list(reversed(answer.rows[:30]))
            parts.append(
                bar_chart(
                    [str(r[0])[5:] for r in days],
                    [float(r[1]) for r in days],
                    "Messages per day, the last 30 days with messages",
                )
            )
            parts.append(html_table(answer.columns, answer.rows[: question.shown]))
        elif question.key == "busiest_hours":
            by_hour = dict(zip(answer.column("hour_utc"), answer.column("messages"), strict=True))
            parts.append(
                bar_chart(
                    [f"{h:02d}" for h in range(24)],
                    [float(by_hour.get(h, 0)) for h in range(24)],
                    "Messages by hour of the day (UTC)",
                )
            )
            parts.append(html_table(answer.columns, answer.rows[: question.shown]))
        elif question.key == "first_reply":
            columns, rows = first_reply_rows(answer)
            parts.append(html_table(columns, rows))
            parts.append(
                '<p class="note">Meta gives the sender of a message only for the 20 newest '
                "messages of a conversation: conversations with more are left out, not guessed."
                "</p>"
            )
        else:
            parts.append(f"<p>{len(answer.rows)} conversations wait for a reply.</p>")
            parts.append(html_table(answer.columns, answer.rows[: question.shown]))
        parts.append(f"<details><summary>SQL</summary><pre>{escape(question.sql)}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
