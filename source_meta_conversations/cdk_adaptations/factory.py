"""The CDK's component factory, with three changes to what it builds.

Replaces, on each source (not process-wide): the source's ``ModelToComponentFactory``
(``_constructor``), which ``ConcurrentDeclarativeSource`` builds itself and takes from no argument.
Written for: airbyte-cdk 7.39.1. Applied by ``declarative_source.AdaptedDeclarativeSource``.

1. Children read from their parent's pages on every sync (``create_simple_retriever``).
2. The conversations cursor checkpoints every page of its listing and the children's cursors
   every move of their parent's state (checkpoint_cursors.py says why), here because the CDK
   builds those cursors itself, the parent streams of the children with a factory of its own.
3. The manifest's rate (a ``MovingWindowCallRatePolicy``: the manifest's ``HTTPAPIBudget`` takes
   no custom policy) becomes an ``AnswerWindowCallRatePolicy`` (components/rate_policies.py);
   a policy whose matcher names a platform (``params.platform``) also takes the messages edge of
   that platform's conversations (``MessagesEdgeOf``: the manifest's matchers cannot read which
   platform a conversation belongs to).

Why 1: ``messages`` and ``message_details`` read each conversation's newest messages from the
conversations page that already carries them (``lazy_read_pointer``), so a sync calls the
messages edge only for conversations with more new messages than the nested page holds. The
CDK (7.39) builds that lazy retriever only when the child stream has no state, i.e. on the first
sync: every later sync would call the messages edge twice (messages, then details) for each
changed conversation, although the page it just read holds those messages. Nothing in the
children depends on that restriction: their slices keep the parent's page
(``extra_fields["child_response"]``) whatever the cursor, ``NewMessagesFilter`` drops what the
watermark already covers, and the messages paginator stops at the first page holding an older
message. So this factory builds the lazy retriever whatever the state.

Only ``create_simple_retriever`` of a stream that reads its parent lazily sees an empty state for
that stream; cursors and every other component see the real one.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.declarative.incremental.concurrent_partition_cursor import (
    ConcurrentPerPartitionCursor,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    MovingWindowCallRatePolicy as MovingWindowCallRatePolicyModel,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    ParentStreamConfig as ParentStreamConfigModel,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    SimpleRetriever as SimpleRetrieverModel,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import (
    SubstreamPartitionRouter as SubstreamPartitionRouterModel,
)
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import (
    ModelToComponentFactory,
)
from airbyte_cdk.sources.declarative.partition_routers import (
    PartitionRouter,
    SubstreamPartitionRouter,
)
from airbyte_cdk.sources.declarative.retrievers import SimpleRetriever
from airbyte_cdk.sources.types import Config
from pydantic.v1 import BaseModel

from source_meta_conversations.cdk_adaptations.checkpoint_cursors import (
    ListingCheckpoints,
    ParentPageCheckpoints,
)
from source_meta_conversations.cdk_adaptations.registry import PrivateName, check_parameters
from source_meta_conversations.components.rate_policies import (
    AnswerWindowCallRatePolicy,
    MessagesEdgeOf,
)
from source_meta_conversations.state import CONVERSATIONS

ComponentDefinition = Mapping[str, Any]

_FACTORY = "airbyte_cdk.sources.declarative.parsers.model_to_component_factory"
PRIVATE_NAMES = (
    PrivateName(
        "airbyte_cdk.sources.declarative.concurrent_declarative_source",
        "ConcurrentDeclarativeSource",
        "_constructor",
        used_by="factory: the source's factory is replaced by GraphComponentFactory",
    ),
    PrivateName(
        _FACTORY,
        "ModelToComponentFactory",
        "_init_mappings",
        used_by="factory: binds the model-to-constructor table to the subclass",
        parameters=("self",),
    ),
    PrivateName(
        _FACTORY,
        "ModelToComponentFactory",
        "_connector_state_manager",
        used_by="factory: a lazy child's retriever is built as if it had no state",
    ),
    PrivateName(
        _FACTORY,
        "ModelToComponentFactory",
        "_create_component_from_model",
        used_by="factory: builds the rate policy's rates and matchers",
        parameters=("self", "model", "config", "kwargs"),
    ),
)


def check() -> None:
    """Raise unless the factory methods this one overrides take the same parameters."""
    expected = {
        "create_simple_retriever": ("self", "model", "config", "name"),
        "create_moving_window_call_rate_policy": ("self", "model", "config", "kwargs"),
        "create_concurrent_cursor_from_perpartition_cursor": (
            "self",
            "state_manager",
            "model_type",
            "component_definition",
            "stream_name",
            "stream_namespace",
            "config",
            "stream_state",
            "partition_router",
            "attempt_to_create_cursor_if_not_provided",
        ),
        "create_parent_stream_config_with_substream_wrapper": (
            "self",
            "model",
            "config",
            "stream_name",
        ),
    }
    for name, parameters in expected.items():
        check_parameters(
            getattr(ModelToComponentFactory, name),
            parameters,
            f"ModelToComponentFactory.{name}",
            leading=True,
        )


class _StateHiddenFor(ConnectorStateManager):
    """A view of a state manager that answers "no state" for one stream only."""

    def __init__(self, real: ConnectorStateManager, stream_name: str) -> None:
        # Deliberately not calling super().__init__: this view holds no state of its own.
        self._real = real
        self._hidden = stream_name

    def get_stream_state(self, stream_name: str, namespace: str | None) -> MutableMapping[str, Any]:
        """The real state of every stream but the hidden one."""
        if stream_name == self._hidden:
            return {}
        return self._real.get_stream_state(stream_name, namespace)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def reads_parent_lazily(model: SimpleRetrieverModel) -> bool:
    """Whether a retriever's first page of each partition is embedded in its parent's record."""
    router = model.partition_router
    return isinstance(router, SubstreamPartitionRouterModel) and any(
        parent.lazy_read_pointer for parent in router.parent_stream_configs
    )


class GraphComponentFactory(ModelToComponentFactory):
    """``ModelToComponentFactory`` with lazy children on every sync and a checkpoint per page."""

    @classmethod
    def like(cls, factory: ModelToComponentFactory) -> GraphComponentFactory:
        """This factory with the configuration of ``factory`` (the one the CDK source built).

        The CDK builds its factory inside the source's constructor from arguments it does not
        keep separately (the message queue, the state manager, limits): copy them all.
        """
        copy = cls.__new__(cls)
        copy.__dict__.update(factory.__dict__)
        copy._init_mappings()  # bind the model -> constructor table to this class's methods
        return copy

    def create_simple_retriever(
        self, model: SimpleRetrieverModel, config: Config, *, name: str, **kwargs: Any
    ) -> SimpleRetriever:
        """Build the retriever; a lazy child's as if its stream had no state yet."""
        if not reads_parent_lazily(model):
            return super().create_simple_retriever(model, config, name=name, **kwargs)
        real = self._connector_state_manager
        self._connector_state_manager = _StateHiddenFor(real, name)
        try:
            return super().create_simple_retriever(model, config, name=name, **kwargs)
        finally:
            self._connector_state_manager = real

    def create_moving_window_call_rate_policy(  # type: ignore[override]
        self, model: MovingWindowCallRatePolicyModel, config: Config, **kwargs: Any
    ) -> AnswerWindowCallRatePolicy:
        """The manifest's rate, each call counted from its answer (rate_policies.py says why).

        A policy for one platform's listing takes that platform's messages edge too: Meta counts
        both against the same Page or Instagram account.
        """
        rates = [
            self._create_component_from_model(model=rate, config=config) for rate in model.rates
        ]
        matchers = [
            self._create_component_from_model(model=matcher, config=config)
            for matcher in model.matchers
        ]
        platforms = dict.fromkeys(
            str(matcher.params["platform"])
            for matcher in model.matchers
            if matcher.params and "platform" in matcher.params
        )
        matchers.extend(MessagesEdgeOf(platform) for platform in platforms)
        return AnswerWindowCallRatePolicy(rates=rates, matchers=matchers)

    def create_concurrent_cursor_from_perpartition_cursor(
        self,
        state_manager: ConnectorStateManager,
        model_type: type[BaseModel],
        component_definition: ComponentDefinition,
        stream_name: str,
        stream_namespace: str | None,
        config: Config,
        stream_state: MutableMapping[str, Any],
        partition_router: PartitionRouter,
        attempt_to_create_cursor_if_not_provided: bool = False,
        **kwargs: Any,
    ) -> ConcurrentPerPartitionCursor:
        """The CDK's cursor, checkpointing per page (conversations) or parent page (children)."""
        cursor = super().create_concurrent_cursor_from_perpartition_cursor(
            state_manager,
            model_type,
            component_definition,
            stream_name,
            stream_namespace,
            config,
            stream_state,
            partition_router,
            attempt_to_create_cursor_if_not_provided,
            **kwargs,
        )
        if stream_name == CONVERSATIONS:
            return ListingCheckpoints.adopt(cursor, stream_state)
        if isinstance(partition_router, SubstreamPartitionRouter):
            return ParentPageCheckpoints.adopt(cursor)
        return cursor

    def create_parent_stream_config_with_substream_wrapper(
        self, model: ParentStreamConfigModel, config: Config, *, stream_name: str, **kwargs: Any
    ) -> Any:
        """The CDK's parent stream config, its conversations cursor resuming and checkpointing.

        The CDK builds a child's parent stream with a new ``ModelToComponentFactory`` of its own,
        so the override above does not reach it: its cursor is adopted here, from the parent
        state saved in the child's state.
        """
        parent_config = super().create_parent_stream_config_with_substream_wrapper(
            model, config, stream_name=stream_name, **kwargs
        )
        parent = parent_config.stream
        cursor = getattr(parent, "cursor", None)
        if parent.name == CONVERSATIONS and type(cursor) is ConcurrentPerPartitionCursor:
            child_state = self._connector_state_manager.get_stream_state(stream_name, None)
            saved = (child_state.get("parent_state") or {}).get(CONVERSATIONS)
            ListingCheckpoints.adopt(cursor, saved)
        return parent_config
