"""``fast_get`` must answer exactly as the ``dpath.get`` it replaces: same value, same default,
same exception.

Each case runs both functions on the same object and compares the outcomes. (``hypothesis`` is
not installed in the venv, so the cases are a table.) Both run under the dpath options the CDK
sets when ``airbyte_cdk.sources`` is imported: empty-string keys are allowed, so an empty path
segment names the key ``""``.
"""

from __future__ import annotations

from typing import Any

import dpath
import pytest
from airbyte_cdk.sources.types import Record

from source_meta_conversations.cdk_adaptations import fast_dpath as perf

GRAPH_PAGE: dict[str, Any] = {
    "data": [
        {
            "id": "t_1",
            "updated_time": "2026-03-01T00:01:40+0000",
            "messages": {
                "data": [{"id": "m_1", "created_time": "2026-03-01T00:01:40+0000"}],
                "paging": {"cursors": {"after": "QVFI"}},
            },
        }
    ],
    "paging": {"cursors": {"before": "QVFA", "after": "QVFI"}, "next": "https://graph/next"},
}
NESTED: dict[Any, Any] = {
    "a": {"b": {"c": [1, 2], "none": None, "0": "key zero"}},
    "a/b": "key with separator",
    "a.b": "key with dot",
    "list": [{"id": "first"}, {"id": "second"}],
    "single": [{"id": "only"}],
    "text": "leaf",
    1: "int key",
}


def _outcome(function: Any, obj: Any, glob: Any, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """What a call gives: ("value", value) or ("raises", exception type, its args)."""
    try:
        return ("value", function(obj, glob, **kwargs))
    except Exception as error:
        return ("raises", type(error), error.args)


CASES = [
    pytest.param(GRAPH_PAGE, "data", {}, id="top_level_key"),
    pytest.param(GRAPH_PAGE, ["data"], {}, id="list_path_as_extractor"),
    pytest.param(GRAPH_PAGE, "paging/cursors/after", {}, id="nested_literal"),
    pytest.param(GRAPH_PAGE, ("paging", "next"), {}, id="tuple_path"),
    pytest.param(GRAPH_PAGE["data"][0], "id", {}, id="parent_key"),
    pytest.param(GRAPH_PAGE["data"][0], ["messages"], {}, id="lazy_read_pointer"),
    pytest.param(Record(data={"id": "t_1"}, stream_name="conversations"), "id", {}, id="record"),
    pytest.param(GRAPH_PAGE, "/paging/next", {}, id="leading_separator"),
    pytest.param(GRAPH_PAGE, "//paging/next", {}, id="leading_separators"),
    pytest.param(GRAPH_PAGE, "missing", {}, id="missing_top_level"),
    pytest.param(GRAPH_PAGE, "paging/cursors/missing", {}, id="missing_nested"),
    pytest.param(GRAPH_PAGE, "missing", {"default": None}, id="missing_default_none"),
    pytest.param(GRAPH_PAGE, "paging/x/y", {"default": "fallback"}, id="missing_default"),
    pytest.param(NESTED, "a/b/none", {"default": "fallback"}, id="present_none_not_default"),
    pytest.param(NESTED, "text/0", {}, id="under_a_leaf"),
    pytest.param(NESTED, "a/b/c/5", {"default": 0}, id="list_index_out_of_range"),
    pytest.param(NESTED, "list/1/id", {}, id="list_index_in_string"),
    pytest.param(NESTED, ["list", 0, "id"], {}, id="list_index_int_segment"),
    pytest.param(NESTED, ["list", "0", "id"], {}, id="list_index_str_segment"),
    pytest.param(NESTED, "a/b/0", {}, id="digit_key_in_mapping"),
    pytest.param(NESTED, "1", {}, id="int_key_in_mapping"),
    pytest.param(NESTED, "a/b", {}, id="separator_splits"),
    pytest.param(NESTED, ["a/b"], {}, id="separator_in_list_segment"),
    pytest.param(NESTED, "a/b", {"separator": "."}, id="other_separator_keeps_slash"),
    pytest.param(NESTED, "a.b", {}, id="dot_without_dot_separator"),
    pytest.param(NESTED, "a.b.c", {"separator": "."}, id="dot_separator"),
    pytest.param(NESTED, "a/b", {"separator": None}, id="no_separator"),
    pytest.param(NESTED, "/", {}, id="root"),
    pytest.param(NESTED, "", {}, id="empty_string"),
    pytest.param(NESTED, [], {}, id="empty_list"),
    pytest.param(NESTED, "single/*/id", {}, id="star_one_match"),
    pytest.param(NESTED, "list/*/id", {}, id="star_many_matches"),
    pytest.param(NESTED, "a/b/?", {}, id="question_mark"),
    pytest.param(NESTED, "li[s]t/0/id", {}, id="bracket"),
    pytest.param(NESTED, "missing/*", {"default": "fallback"}, id="glob_missing_default"),
    pytest.param(NESTED, "**/none", {}, id="double_star"),
    pytest.param(GRAPH_PAGE, "paging/next/", {}, id="trailing_separator"),
    pytest.param(GRAPH_PAGE, "paging//next", {}, id="doubled_separator"),
    pytest.param({"a": {"": "empty key"}}, ["a", ""], {}, id="empty_key_list_segment"),
    pytest.param({"a": {"": "empty key"}}, "a/", {}, id="empty_key_trailing_separator"),
    pytest.param({"data": [{"id": "t_1"}], "meta": {"": 1}}, "data", {}, id="empty_key_elsewhere"),
]


@pytest.mark.parametrize(("obj", "glob", "kwargs"), CASES)
def test_given_path_when_fast_get_then_same_outcome_as_dpath_get(
    obj: Any, glob: Any, kwargs: dict[str, Any]
) -> None:
    expected = _outcome(perf._original_get, obj, glob, kwargs)

    actual = _outcome(perf.fast_get, obj, glob, kwargs)

    assert actual == expected


@pytest.mark.parametrize(
    "glob",
    ["data", "paging/cursors", ["data"]],
    ids=["list_value", "mapping_value", "list_path"],
)
def test_given_literal_path_when_fast_get_then_same_object_not_a_copy(glob: Any) -> None:
    assert perf.fast_get(GRAPH_PAGE, glob) is perf._original_get(GRAPH_PAGE, glob)


def test_given_connector_imported_when_dpath_get_called_then_fast_get_answers() -> None:
    # Importing source_meta_conversations installs the fast path, which the CDK reaches through
    # the module attribute ``dpath.get``.
    perf.install()

    assert dpath.get is perf.fast_get
    assert perf._original_get is not perf.fast_get
