"""``GradualPageSizeReducer``: after Meta asked for less data, the page grows back gradually."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.sources.declarative.retrievers import simple_retriever
from airbyte_cdk.sources.declarative.retrievers.page_size_reducer import (
    PageSizeReduction,
    PageSizeResetPolicy,
)

from source_meta_conversations.cdk_adaptations.page_size import GradualPageSizeReducer
from source_meta_conversations.source import SourceMetaConversations
from unit_tests.mock_server.config import ConfigBuilder

CONFIGURED = 25
# Pages Meta answers in a row at a reduced size before the size grows again.
GROW_AFTER_PAGES = 4


def _reducer(policy: PageSizeResetPolicy) -> GradualPageSizeReducer:
    config = PageSizeReduction(reduction_factor=2, minimum_page_size=1, reset_policy=policy)
    return GradualPageSizeReducer(
        config, CONFIGURED, stream_name="conversations", sleep=lambda _: None
    )


def _sizes_after_pages(reducer: GradualPageSizeReducer, pages: int) -> list[int | None]:
    """The page size asked for after each of ``pages`` pages Meta answered."""
    sizes = []
    for _ in range(pages):
        reducer.on_successful_page()
        sizes.append(reducer.page_size_override)
    return sizes


def test_given_a_refused_page_when_pages_then_succeed_then_size_doubles_back_to_configured() -> (
    None
):
    reducer = _reducer(PageSizeResetPolicy.AFTER_SUCCESSFUL_PAGE)

    reducer.reduce("Please reduce the amount of data")

    assert reducer.page_size_override == 12
    sizes = _sizes_after_pages(reducer, 2 * GROW_AFTER_PAGES)
    # None is the configured size (25): 12 for four pages, 24 for four, then 25 again.
    assert sizes == [12] * (GROW_AFTER_PAGES - 1) + [24] * GROW_AFTER_PAGES + [None]


def test_given_grown_size_refused_when_pages_succeed_then_next_growth_waits_twice_as_long() -> None:
    reducer = _reducer(PageSizeResetPolicy.AFTER_SUCCESSFUL_PAGE)
    reducer.reduce()
    _sizes_after_pages(reducer, GROW_AFTER_PAGES)
    assert reducer.page_size_override == 24

    reducer.reduce()  # 24 is too much as well

    sizes = _sizes_after_pages(reducer, 2 * GROW_AFTER_PAGES)
    assert sizes == [12] * (2 * GROW_AFTER_PAGES - 1) + [24]


def test_given_never_policy_when_pages_succeed_then_the_cdk_keeps_the_reduced_size() -> None:
    reducer = _reducer(PageSizeResetPolicy.NEVER)
    reducer.reduce()

    assert _sizes_after_pages(reducer, 3 * GROW_AFTER_PAGES) == [12] * (3 * GROW_AFTER_PAGES)


def test_given_no_reduction_when_pages_succeed_then_configured_size_throughout() -> None:
    reducer = _reducer(PageSizeResetPolicy.AFTER_SUCCESSFUL_PAGE)

    assert _sizes_after_pages(reducer, 2 * GROW_AFTER_PAGES) == [None] * (2 * GROW_AFTER_PAGES)


def test_given_growth_when_it_happens_then_logged_with_both_sizes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reducer = _reducer(PageSizeResetPolicy.AFTER_SUCCESSFUL_PAGE)
    reducer.reduce()
    caplog.clear()  # the CDK logs the reduction itself

    with caplog.at_level(logging.INFO, logger="airbyte"):
        _sizes_after_pages(reducer, GROW_AFTER_PAGES)

    assert [r.getMessage() for r in caplog.records] == [
        f"Growing the page size of stream conversations from 12 to 24 after "
        f"{GROW_AFTER_PAGES} pages Meta answered in a row."
    ]


def test_given_source_built_when_cdk_reads_pages_then_it_builds_the_gradual_reducer() -> None:
    SourceMetaConversations(config=ConfigBuilder().build())

    assert simple_retriever.PageSizeReducer is GradualPageSizeReducer


def _factory_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the CDK's factory logs while the source's streams are built."""
    config = ConfigBuilder().build()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="airbyte"):
        SourceMetaConversations(config=config).streams(config)
    return [
        r.getMessage() for r in caplog.records if r.name == "airbyte.model_to_component_factory"
    ]


def test_given_the_streams_built_when_logging_then_no_false_warning_about_the_page_size(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warnings = _factory_warnings(caplog)

    assert not [w for w in warnings if "page_size_reduction" in w]


def test_given_the_filter_removed_when_the_streams_are_built_then_the_cdk_warns_as_it_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What the filter drops is a warning this CDK really logs: if its wording changes, the
    # filter drops nothing and this test says so.
    factory_logger = logging.getLogger("airbyte.model_to_component_factory")
    filters = list(factory_logger.filters)
    for installed in filters:
        factory_logger.removeFilter(installed)
    try:
        warnings = _factory_warnings(caplog)
    finally:
        for installed in filters:
            factory_logger.addFilter(installed)

    assert (
        "Stream conversations defines `page_size_reduction` but no response filter with the "
        "REDUCE_PAGE_SIZE action was found on its requester. The page size will never be reduced "
        "unless a custom error handler resolves to that action."
    ) in warnings
