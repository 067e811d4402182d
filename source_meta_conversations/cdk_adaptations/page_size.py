"""A page size that grows back gradually after Meta asked for less data (a process-wide patch).

Replaces: the ``PageSizeReducer`` class that ``airbyte_cdk...retrievers.simple_retriever`` builds
per partition read. Written for: airbyte-cdk 7.39.1. Installed by ``cdk_adaptations.install()``.

Why: Graph answers code 1 "Please reduce the amount of data you're asking for" when one answer
would hold too much: a conversations page of 25, each with its 20 newest messages and their
details, can be too heavy where conversations carry long texts or many attachments. The CDK's
``PageSizeReduction`` halves the page and retries it, which is what the manifest asks for; but
once a page got through it either keeps the small page for the rest of the platform's listing
(``NEVER``: twice the calls, and calls are the sync's time at 2 per second) or restores the full
size at once (``AFTER_SUCCESSFUL_PAGE``: one refused call per page where the data stays heavy).

With this reducer, ``AFTER_SUCCESSFUL_PAGE`` means "grow back gradually": after
``GROW_AFTER_PAGES`` pages in a row that Meta answered, the page size is multiplied by the
reduction factor (so doubled), up to the configured size. When a grown size is refused again,
the next growth waits twice as many pages, so a listing whose pages are all heavy settles at
the size that works with a handful of refused calls (their count grows with the logarithm of
the number of pages), and a listing with one heavy stretch returns to full pages after it. Each
change is logged. ``NEVER`` is left exactly as the CDK has it.

The CDK builds a ``PageSizeReducer`` per partition read inside ``SimpleRetriever._read_pages``
and offers no option for this, so ``install`` replaces the class that module uses with this
subclass; only the ``AFTER_SUCCESSFUL_PAGE`` path differs.

``install`` also keeps one false warning of the CDK's out of the sync's log: its factory warns,
each time it builds the ``conversations`` stream (three times a sync), that the stream "defines
``page_size_reduction`` but no response filter with the REDUCE_PAGE_SIZE action was found", as
it cannot see into a custom error handler. The manifest's is one (``MatchingFilterOnly``, so
that the error table still answers what it does not match), and it does resolve code 1 to
REDUCE_PAGE_SIZE (tested). A user reading "the page size will never be reduced" would believe
the opposite of what happens. The warning stays for any other stream.
"""

from __future__ import annotations

import logging

from airbyte_cdk.sources.declarative.retrievers import simple_retriever
from airbyte_cdk.sources.declarative.retrievers.page_size_reducer import (
    PageSizeReducer,
    PageSizeResetPolicy,
)

from source_meta_conversations.cdk_adaptations.registry import (
    CdkAdaptationError,
    PrivateName,
    ProcessPatch,
    check_parameters,
)

LOGGER = logging.getLogger("airbyte")

# Pages Meta must answer in a row at a reduced size before the size grows (doubles with each
# refusal of a grown size).
GROW_AFTER_PAGES = 4


class GradualPageSizeReducer(PageSizeReducer):
    """``PageSizeReducer`` whose ``AFTER_SUCCESSFUL_PAGE`` policy grows the size back gradually."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # the CDK's own signature
        self._pages_since_change = 0
        self._patience = GROW_AFTER_PAGES
        self._just_grown = False

    def reduce(self, error_message: str | None = None) -> None:
        """Shrink as the CDK does; a refused grown size makes the next growth wait longer."""
        if self._just_grown:
            self._patience *= 2
        self._just_grown = False
        self._pages_since_change = 0
        super().reduce(error_message)

    def on_successful_page(self) -> None:
        """Count the page; grow the size once enough pages in a row got through."""
        if self._config.reset_policy != PageSizeResetPolicy.AFTER_SUCCESSFUL_PAGE:
            super().on_successful_page()
            return
        # What the CDK resets on every page that got through, under either policy.
        self._attempts = 0
        self._retries_at_minimum_page_size = 0
        self._just_grown = False
        current = self._current_page_size
        configured = self._configured_page_size
        if current is None or configured is None:
            return
        self._pages_since_change += 1
        if self._pages_since_change < self._patience:
            return
        self._pages_since_change = 0
        grown = int(current * self._config.reduction_factor)
        self._current_page_size = grown if grown < configured else None
        self._just_grown = True
        LOGGER.info(
            f"Growing the page size of stream {self._stream_name} from {current} to "
            f"{min(grown, configured)} after {self._patience} pages Meta answered in a row."
        )


_REDUCER = "airbyte_cdk.sources.declarative.retrievers.page_size_reducer"
PRIVATE_NAMES = tuple(
    PrivateName(_REDUCER, "PageSizeReducer", name, used_by="page_size: GradualPageSizeReducer")
    for name in (
        "_config",
        "_attempts",
        "_retries_at_minimum_page_size",
        "_current_page_size",
        "_configured_page_size",
        "_stream_name",
    )
)


def check() -> None:
    """Raise unless the retriever module still builds the CDK's reducer with the same calls."""
    if simple_retriever.PageSizeReducer not in (PageSizeReducer, GradualPageSizeReducer):
        raise CdkAdaptationError(
            "airbyte_cdk's simple_retriever no longer builds PageSizeReducer; the gradual page "
            "size (cdk_adaptations/page_size.py) cannot be installed."
        )
    check_parameters(
        PageSizeReducer.__init__,
        ("self", "config", "configured_page_size", "stream_name", "sleep"),
        "PageSizeReducer.__init__",
    )
    check_parameters(PageSizeReducer.reduce, ("self", "error_message"), "PageSizeReducer.reduce")
    check_parameters(
        PageSizeReducer.on_successful_page, ("self",), "PageSizeReducer.on_successful_page"
    )


# The CDK factory's logger, and the start of its warning that is false for this stream.
FACTORY_LOGGER = "airbyte.model_to_component_factory"
FALSE_WARNING = (
    "Stream conversations defines `page_size_reduction` but no response filter with the "
    "REDUCE_PAGE_SIZE action was found on its requester."
)


class _DropFalseWarning(logging.Filter):
    """Drops the factory's warning that the conversations page size is never reduced."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(FALSE_WARNING)


_DROP_FALSE_WARNING = _DropFalseWarning()


def install() -> None:
    """Make the CDK's retrievers use ``GradualPageSizeReducer`` (idempotent), and drop the
    factory's false warning about the conversations stream's page size."""
    simple_retriever.PageSizeReducer = GradualPageSizeReducer  # type: ignore[misc]
    logging.getLogger(FACTORY_LOGGER).addFilter(_DROP_FALSE_WARNING)  # added once, however often


PATCH = ProcessPatch(
    target="airbyte_cdk.sources.declarative.retrievers.simple_retriever.PageSizeReducer",
    why="after code 1 the conversations page grows back gradually instead of at once or never",
    check=check,
    install=install,
    private_names=PRIVATE_NAMES,
)
