"""What a support lead asks first, answered in SQL over the synced tables.

Each ``Question`` is one query over ``conversations``, ``messages`` and ``message_details`` as a
destination (or PyAirbyte's DuckDB cache) holds them: times are UTC timestamps, nested fields are
JSON. The queries are written for DuckDB and printed in docs/meta-conversations.md ("Answers in
SQL") for users to run on their own warehouse; a test keeps the two identical.

Two facts of Meta's API shape them:

- Who sent a message (``from``) is known only in ``message_details``, which Meta gives for the 20
  newest messages of a conversation. The first reply can be measured only in conversations whose
  every message has details; the others are counted, not guessed.
- Records name the Page, not the business's Instagram account. The business is the participant
  present in every conversation of its inbox: per platform, the one in the most conversations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The business of each inbox: the participant present in the most conversations of a platform.
BUSINESS = """business AS (  -- the business takes part in every conversation of its inbox
    SELECT platform, arg_max(person_id, conversations) AS business_id
    FROM (
        SELECT platform, person_id, count(*) AS conversations
        FROM (
            SELECT platform,
                   unnest(json_extract_string(participants, '$.data[*].id')) AS person_id
            FROM conversations
        )
        GROUP BY ALL
    )
    GROUP BY platform
)"""

PER_DAY = """-- Messages and conversations per day (UTC), newest day first: every message
-- counts (the messages stream has them all); a conversation is active on a day it has a message,
-- and new on the day of its first one.
WITH days AS (
    SELECT CAST(created_time AS DATE) AS day, conversation_id FROM messages
),
firsts AS (
    SELECT conversation_id, min(day) AS day FROM days GROUP BY conversation_id
)
SELECT d.day,
       count(*) AS messages,
       count(DISTINCT d.conversation_id) AS active_conversations,
       (SELECT count(*) FROM firsts AS f WHERE f.day = d.day) AS new_conversations
FROM days AS d
GROUP BY d.day
ORDER BY d.day DESC"""

FIRST_REPLY = f"""-- Time to the business's first reply, per platform and overall: from the
-- customer's first message to the business's first message after it. Measured only in
-- conversations whose every message has details (who sent it); conversations longer than Meta's
-- 20 detailed messages are counted in left_out_over_20_messages.
WITH {BUSINESS},
coverage AS (  -- does every message of the conversation have details?
    SELECT m.platform, m.conversation_id, count(*) = count(d.id) AS complete
    FROM messages AS m LEFT JOIN message_details AS d ON d.id = m.id
    GROUP BY ALL
),
sent AS (
    SELECT d.conversation_id, d.created_time,
           json_extract_string(d."from", '$.id') = b.business_id AS by_business
    FROM message_details AS d JOIN business AS b USING (platform)
),
asked AS (  -- the customer's first message
    SELECT conversation_id, min(created_time) AS asked_at
    FROM sent WHERE NOT by_business GROUP BY conversation_id
),
replies AS (
    SELECT a.conversation_id, a.asked_at, min(s.created_time) AS replied_at
    FROM asked AS a
    LEFT JOIN sent AS s
        ON s.conversation_id = a.conversation_id AND s.by_business AND s.created_time > a.asked_at
    GROUP BY ALL
),
measured AS (
    SELECT c.platform, c.complete, r.asked_at, r.replied_at,
           epoch(r.replied_at) - epoch(r.asked_at) AS seconds
    FROM coverage AS c LEFT JOIN replies AS r USING (conversation_id)
)
SELECT coalesce(platform, 'all') AS platform,
       count(*) FILTER (WHERE complete AND replied_at IS NOT NULL) AS replied,
       median(seconds) FILTER (WHERE complete) / 60 AS median_minutes,
       quantile_cont(seconds, 0.9) FILTER (WHERE complete) / 60 AS p90_minutes,
       count(*) FILTER (WHERE complete AND asked_at IS NOT NULL AND replied_at IS NULL)
           AS not_replied_yet,
       count(*) FILTER (WHERE complete AND asked_at IS NULL) AS no_customer_message,
       count(*) FILTER (WHERE NOT complete) AS left_out_over_20_messages,
       count(*) AS conversations
FROM measured
GROUP BY GROUPING SETS ((platform), ())
ORDER BY platform IS NULL, platform"""  # noqa: S608 (constant SQL, no input)

WAITING = f"""-- Conversations waiting for a reply: their newest message is the customer's
-- (the newest message of a conversation always has details). Longest waiting first; `waiting` is
-- counted to the newest message synced (on live data, use now()).
WITH {BUSINESS},
newest AS (
    SELECT platform, conversation_id, created_time, "from" AS sender, message
    FROM message_details
    QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY created_time DESC, id DESC)
        = 1
)
SELECT n.platform,
       n.conversation_id,
       coalesce(json_extract_string(n.sender, '$.name'),
                json_extract_string(n.sender, '$.username')) AS customer,
       n.created_time AS last_message_at,
       (SELECT max(created_time) FROM messages) - n.created_time AS waiting,
       n.message AS last_message
FROM newest AS n JOIN business AS b USING (platform)
WHERE json_extract_string(n.sender, '$.id') <> b.business_id
ORDER BY n.created_time, n.conversation_id"""  # noqa: S608 (constant SQL, no input)

BUSIEST_HOURS = """-- Busiest hours of the day (UTC), over every message: busiest first.
SELECT hour(created_time) AS hour_utc,
       count(*) AS messages,
       round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
FROM messages
GROUP BY hour_utc
ORDER BY messages DESC, hour_utc"""


@dataclass(frozen=True)
class Question:
    """One question, the SQL that answers it, and how many rows the terminal shows."""

    key: str
    title: str
    sql: str
    shown: int


QUESTIONS: tuple[Question, ...] = (
    Question("per_day", "Messages and conversations per day (UTC)", PER_DAY, 14),
    Question("first_reply", "Time to first reply by the business", FIRST_REPLY, 3),
    Question("waiting", "Waiting for a reply (the customer wrote last)", WAITING, 10),
    Question("busiest_hours", "Busiest hours of the day (UTC)", BUSIEST_HOURS, 5),
)


@dataclass
class Answer:
    """A question's result: column names and every row."""

    question: Question
    columns: list[str]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def column(self, name: str) -> list[Any]:
        """Every value of one column."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]


def ask(connection: Any) -> dict[str, Answer]:
    """Run every question on a DB-API connection to DuckDB; answers by key.

    A ``duckdb`` connection, or the raw connection of PyAirbyte's cache engine
    (``cache.get_sql_engine().raw_connection()``).
    """
    answers: dict[str, Answer] = {}
    for question in QUESTIONS:
        cursor = connection.cursor()
        try:
            cursor.execute(question.sql)
            columns = [d[0] for d in cursor.description or []]
            rows = [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()
        answers[question.key] = Answer(question, columns, rows)
    return answers


# ---------------------------------------------------------------------------------- text
def duration(minutes: float | None) -> str:
    """``42 min``, ``3.5 h``, ``2.1 d``; ``-`` when there is nothing to measure."""
    if minutes is None:
        return "-"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def cell(value: Any) -> str:
    """A value as a table shows it."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "total_seconds"):
        return duration(value.total_seconds() / 60)
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value).replace("\n", " ")
    return text if len(text) <= 40 else text[:39] + "…"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "    ") -> str:
    """A plain text table: a header, a rule, the rows; numbers right-aligned."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in texts]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if numeric[i] else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return indent + "  ".join(parts).rstrip()

    rule = indent + "  ".join("-" * w for w in widths)
    return "\n".join([line(list(columns)), rule, *(line(r) for r in texts)])


def first_reply_rows(answer: Answer) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The first-reply answer with durations written out."""
    columns = [
        "platform",
        "replied",
        "median",
        "p90",
        "not replied yet",
        "only business wrote",
        "left out (>20 msgs)",
        "conversations",
    ]
    rows = [
        (
            row[0],
            row[1],
            duration(row[2]),
            duration(row[3]),
            row[4],
            row[5],
            row[6],
            row[7],
        )
        for row in answer.rows
    ]
    return columns, rows


def render(answers: dict[str, Answer]) -> str:
    """Every answer as the terminal shows it."""
    out: list[str] = ["", "  What a support lead asks (DuckDB over the synced tables):"]
    for question in QUESTIONS:
        answer = answers[question.key]
        out += ["", f"  {question.title}"]
        if question.key == "first_reply":
            columns, rows = first_reply_rows(answer)
            out.append(table(columns, rows))
            overall = answer.rows[-1] if answer.rows else None
            if overall is not None:
                out.append(
                    f"    {overall[6]} of {overall[7]} conversations are left out: Meta gives the "
                    "sender only for a conversation's 20 newest messages, so their first "
                    "reply is not known."
                )
            continue
        rows = answer.rows[: question.shown]
        if question.key == "waiting":
            out.append(f"    {len(answer.rows)} conversations wait for a reply; longest first:")
            columns = ["platform", "conversation", "customer", "last message", "waiting", "text"]
            out.append(table(columns, rows))
            continue
        out.append(table(answer.columns, rows))
        if len(answer.rows) > len(rows):
            out.append(f"    ({len(answer.rows) - len(rows)} more rows)")
    return "\n".join(out)
