"""The demo's answers: DuckDB tables as a destination writes them, and the support lead's SQL.

Each test builds a small inbox by hand (the Page, customers, who wrote when), loads it the way
``make demo`` loads a read, and checks one answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from demo.answers import QUESTIONS, Answer, ask, duration, render
from demo.page import page
from demo.warehouse import column_type, load

ROOT = Path(__file__).resolve().parents[2]
PAGE = "104839588217347"
IG_ACCOUNT = "17841400000000001"
START = datetime(2026, 9, 1, 9, 0, 0)

STREAMS: list[dict[str, Any]] = [
    {
        "name": "conversations",
        "source_defined_primary_key": [["id"]],
        "json_schema": {
            "properties": {
                "id": {"type": "string"},
                "updated_time": {"type": ["null", "string"], "format": "date-time"},
                "platform": {"type": ["null", "string"]},
                "participants": {"type": ["null", "object"]},
                "message_count": {"type": ["null", "integer"]},
                "is_owner": {"type": ["null", "boolean"]},
            }
        },
    },
    {
        "name": "messages",
        "source_defined_primary_key": [["id"]],
        "json_schema": {
            "properties": {
                "id": {"type": "string"},
                "created_time": {"type": ["null", "string"], "format": "date-time"},
                "conversation_id": {"type": ["null", "string"]},
                "platform": {"type": ["null", "string"]},
            }
        },
    },
    {
        "name": "message_details",
        "source_defined_primary_key": [["id"]],
        "json_schema": {
            "properties": {
                "id": {"type": "string"},
                "created_time": {"type": ["null", "string"], "format": "date-time"},
                "conversation_id": {"type": ["null", "string"]},
                "platform": {"type": ["null", "string"]},
                "from": {"type": ["null", "object"]},
                "message": {"type": ["null", "string"]},
            }
        },
    },
]


@dataclass
class Inbox:
    """Records as the connector emits them, written conversation by conversation."""

    records: list[dict[str, Any]] = field(default_factory=list)
    _ids: int = 0

    def conversation(
        self, platform: str, customer: str, lines: list[tuple[str, int]], detailed: int = 20
    ) -> str:
        """A conversation: ``lines`` are (``"customer"`` or ``"business"``, minutes from START),
        oldest first; only the ``detailed`` newest messages get a message_details record."""
        business = PAGE if platform == "messenger" else IG_ACCOUNT
        conversation_id = f"c{len(self.records)}"
        people = {
            "customer": {"id": customer, "name": f"Customer {customer}"},
            "business": {"id": business},
        }
        times = [START + timedelta(minutes=minutes) for _, minutes in lines]
        self._add(
            "conversations",
            id=conversation_id,
            updated_time=times[-1].isoformat() + "+00:00",
            platform=platform,
            participants={"data": [people["customer"], people["business"]]},
            message_count=len(lines),
        )
        for index, ((who, _), when) in enumerate(zip(lines, times, strict=True)):
            self._ids += 1
            common = {
                "id": f"m{self._ids}",
                "created_time": when.isoformat() + "+00:00",
                "conversation_id": conversation_id,
                "platform": platform,
            }
            self._add("messages", **common)
            if index >= len(lines) - detailed:
                self._add(
                    "message_details", **common, message=f"line {index}", **{"from": people[who]}
                )
        return conversation_id

    def _add(self, stream: str, **data: Any) -> None:
        self.records.append({"stream": stream, "data": data})

    def answers(self) -> dict[str, Answer]:
        connection = duckdb.connect()
        load(connection, STREAMS, self.records)
        return ask(connection)


def _row(answer: Answer, platform: str) -> dict[str, Any]:
    [row] = [r for r in answer.rows if r[0] == platform]
    return dict(zip(answer.columns, row, strict=True))


# ---------------------------------------------------------------------------------- warehouse
class TestWarehouse:
    @pytest.mark.parametrize(
        ("schema", "expected"),
        [
            ({"type": ["null", "string"], "format": "date-time"}, "TIMESTAMP"),
            ({"type": "string"}, "VARCHAR"),
            ({"type": ["null", "integer"]}, "BIGINT"),
            ({"type": ["null", "number"]}, "DOUBLE"),
            ({"type": ["null", "boolean"]}, "BOOLEAN"),
            ({"type": ["null", "object"]}, "JSON"),
            ({"type": ["null", "array"]}, "JSON"),
        ],
        ids=["date-time", "string", "integer", "number", "boolean", "object", "array"],
    )
    def test_given_a_property_when_loaded_then_typed_as_pyairbytes_cache_types_it(
        self, schema: dict[str, Any], expected: str
    ) -> None:
        assert column_type(schema) == expected

    def test_given_a_record_read_twice_when_loaded_then_one_row_the_last_read(self) -> None:
        connection = duckdb.connect()
        first = {"id": "m1", "created_time": "2026-09-01T09:00:00+00:00", "conversation_id": "a"}
        again = {**first, "conversation_id": "b"}

        counts = load(
            connection, STREAMS, [{"stream": "messages", "data": d} for d in (first, again)]
        )

        assert counts["messages"] == 1
        assert connection.execute("SELECT conversation_id FROM messages").fetchall() == [("b",)]

    def test_given_a_time_with_an_offset_when_loaded_then_stored_in_utc(self) -> None:
        connection = duckdb.connect()
        record = {"id": "m1", "created_time": "2026-09-01T11:00:00+02:00"}

        load(connection, STREAMS, [{"stream": "messages", "data": record}])

        assert connection.execute("SELECT created_time FROM messages").fetchone() == (
            datetime(2026, 9, 1, 9, 0, 0),
        )


# ---------------------------------------------------------------------------------- answers
class TestMessagesPerDay:
    def test_given_messages_on_two_days_when_asked_then_messages_and_conversations_per_day(
        self,
    ) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("business", 5), ("customer", 1440)])
        inbox.conversation("messenger", "2", [("customer", 1445)])

        answer = inbox.answers()["per_day"]

        assert answer.rows == [
            (datetime(2026, 9, 2).date(), 2, 2, 1),  # newest day first
            (datetime(2026, 9, 1).date(), 2, 1, 1),
        ]


class TestFirstReply:
    def test_given_replies_after_12_and_60_minutes_when_asked_then_median_and_p90(self) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("customer", 3), ("business", 12)])
        inbox.conversation("messenger", "2", [("customer", 0), ("business", 60), ("customer", 61)])

        row = _row(inbox.answers()["first_reply"], "messenger")

        assert row["replied"] == 2
        assert row["median_minutes"] == pytest.approx(36.0)
        assert row["p90_minutes"] == pytest.approx(12 + 0.9 * 48)

    def test_given_a_conversation_over_20_messages_when_asked_then_left_out_and_counted(
        self,
    ) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("business", 10)])
        long = [("customer", 0), ("business", 1)] + [("customer", 2 + i) for i in range(20)]
        inbox.conversation("messenger", "2", long)  # 22 messages, 20 with details

        row = _row(inbox.answers()["first_reply"], "messenger")

        assert row["replied"] == 1
        assert row["median_minutes"] == pytest.approx(10.0)
        assert row["left_out_over_20_messages"] == 1
        assert row["conversations"] == 2

    def test_given_no_reply_or_only_the_business_when_asked_then_counted_apart(self) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0)])
        inbox.conversation("messenger", "2", [("business", 0)])
        inbox.conversation("messenger", "3", [("business", 0), ("customer", 5), ("business", 9)])

        row = _row(inbox.answers()["first_reply"], "messenger")

        assert (row["replied"], row["not_replied_yet"], row["no_customer_message"]) == (1, 1, 1)
        assert row["median_minutes"] == pytest.approx(4.0)  # from the customer's first message

    def test_given_instagram_when_asked_then_the_business_is_the_account_in_every_conversation(
        self,
    ) -> None:
        # Records name the Page, not the Instagram account: the account is found from the data.
        inbox = Inbox()
        inbox.conversation("instagram", "71", [("customer", 0), ("business", 30)])
        inbox.conversation("instagram", "72", [("customer", 0), ("business", 50)])

        answers = inbox.answers()["first_reply"]

        assert _row(answers, "instagram")["median_minutes"] == pytest.approx(40.0)
        assert _row(answers, "all")["replied"] == 2


class TestWaiting:
    def test_given_last_messages_of_both_sides_when_asked_then_the_customers_longest_first(
        self,
    ) -> None:
        inbox = Inbox()
        answered = inbox.conversation("messenger", "1", [("customer", 0), ("business", 5)])
        recent = inbox.conversation("messenger", "2", [("customer", 90)])
        oldest = inbox.conversation("messenger", "3", [("business", 0), ("customer", 30)])

        answer = inbox.answers()["waiting"]

        assert answer.column("conversation_id") == [oldest, recent]
        assert answered not in answer.column("conversation_id")
        assert answer.column("customer") == ["Customer 3", "Customer 2"]
        # Waiting is counted to the newest message synced (minute 90).
        assert answer.column("waiting") == [timedelta(minutes=60), timedelta(0)]

    def test_given_two_customers_who_wrote_in_the_same_second_when_asked_then_a_stable_order(
        self,
    ) -> None:
        # Graph's times are to the second: ties happen, and the answer must not depend on them.
        inbox = Inbox()
        first = inbox.conversation("messenger", "1", [("customer", 10)])
        second = inbox.conversation("messenger", "2", [("customer", 10)])
        inbox.records.reverse()  # the order records arrive in does not matter

        answer = inbox.answers()["waiting"]

        assert answer.column("conversation_id") == sorted([first, second])


class TestBusiestHours:
    def test_given_messages_at_three_hours_when_asked_then_busiest_first_with_share(self) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("business", 5), ("customer", 65)])
        inbox.conversation("messenger", "2", [("customer", 70), ("customer", 125)])

        answer = inbox.answers()["busiest_hours"]

        assert answer.rows == [(9, 2, 40.0), (10, 2, 40.0), (11, 1, 20.0)]  # ties: earlier hour


# ---------------------------------------------------------------------------------- output
class TestOutput:
    @pytest.mark.parametrize(
        ("minutes", "text"),
        [(None, "-"), (4.4, "4 min"), (150, "2.5 h"), (4320, "3.0 d")],
        ids=["nothing", "minutes", "hours", "days"],
    )
    def test_given_minutes_when_written_then_the_unit_a_person_reads(
        self, minutes: float | None, text: str
    ) -> None:
        assert duration(minutes) == text

    def test_given_left_out_conversations_when_rendered_then_the_text_says_how_many_and_why(
        self,
    ) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("business", 10)])
        inbox.conversation("messenger", "2", [("customer", i) for i in range(25)])

        text = render(inbox.answers())

        assert "1 of 2 conversations are left out" in text
        assert "20 newest messages" in text
        for question in QUESTIONS:
            assert question.title in text

    def test_given_the_answers_when_written_as_a_page_then_it_fetches_nothing(self) -> None:
        inbox = Inbox()
        inbox.conversation("messenger", "1", [("customer", 0), ("business", 10)])

        html = page(inbox.answers(), "a test inbox")

        assert html.count("<svg") == 2  # messages per day, messages per hour
        assert re.search(r"<script|<link|<img|<iframe|src=|href=|url\(|@import", html) is None
        for question in QUESTIONS:
            assert question.title in html


class TestDocs:
    @pytest.mark.parametrize("question", QUESTIONS, ids=[q.key for q in QUESTIONS])
    def test_given_a_question_when_the_docs_are_read_then_they_show_its_sql_as_the_demo_runs_it(
        self, question: Any
    ) -> None:
        docs = (ROOT / "docs" / "meta-conversations.md").read_text()

        assert f"```sql\n{question.sql}\n```" in docs
