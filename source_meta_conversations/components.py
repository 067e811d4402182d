"""The few behaviours of the connector that the declarative manifest cannot express.

Each class is one small component referenced from ``manifest.yaml`` by ``class_name``.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field
from typing import Any, Mapping

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.paginators.strategies import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException


@dataclass
class KeepFields(RecordTransformation):
    """Keep only the named top-level fields of a record and drop every other one.

    Why a component: the ``messages`` stream reads the same nested Graph page as
    ``message_details`` (one call feeds both), so its records arrive with every detail field.
    ``RemoveFields`` would need a second copy of the detail field list; keeping the two fields
    the stream is about reads the one list the manifest already has (``fields.message``).

    Example: with ``fields="id,created_time"``,
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000", "message": "Hi"}`` becomes
    ``{"id": "m_1", "created_time": "2022-07-12T19:11:07+0000"}``.
    """

    parameters: InitVar[Mapping[str, Any]]
    fields: str | list[str] = field(default_factory=list)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        names = self.fields.split(",") if isinstance(self.fields, str) else self.fields
        self._keep = frozenset(name.strip() for name in names if name.strip())
        if not self._keep:
            raise ValueError("KeepFields needs at least one field name to keep.")

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        """Delete, in place, every top-level key of ``record`` that is not kept."""
        for key in [key for key in record if key not in self._keep]:
            del record[key]


@dataclass
class GraphCursorPagination(CursorPaginationStrategy):
    """Graph cursor paging that fails loudly instead of looping when Meta repeats a page.

    Why a component: Graph's only end-of-list signal is a missing ``paging.next``. The manifest's
    ``stop_condition`` handles that, but a ``next`` that points at the page just read (seen with
    stale cursors) would make the CDK's ``CursorPagination`` ask for the same page forever, and a
    stop condition cannot see the previous token. This strategy compares the new cursor with the
    one that fetched the page and raises a transient error naming the loop.

    Example: a page fetched with ``after=QVFI`` answering ``paging.cursors.after == "QVFI"`` and a
    ``paging.next`` raises instead of requesting ``after=QVFI`` again.
    """

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        """The next cursor, or None at the end; raise if it is the cursor just followed."""
        token = super().next_page_token(
            response,
            last_page_size,
            last_record,
            last_page_token_value,
            page_size_override=page_size_override,
            stream_slice=stream_slice,
        )
        if token is not None and last_page_token_value is not None and token == last_page_token_value:
            raise AirbyteTracedException(
                message=(
                    "Meta's Graph API returned the same page again (its paging.next points back at "
                    "the page just read), so the connector stopped instead of looping. Run the "
                    "sync again; if it repeats, the conversation list changed while paging."
                ),
                internal_message=f"Repeated paging cursor at {_safe_url(response)}",
                failure_type=FailureType.transient_error,
            )
        return token


def _safe_url(response: requests.Response) -> str:
    """The response's URL without its query string (which may carry credentials)."""
    return str(response.url).split("?", 1)[0] if response is not None else ""
