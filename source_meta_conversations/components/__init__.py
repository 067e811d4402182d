"""The few things the manifest cannot say, one small module per role, each declared by class_name.

- ``transformations``: where a record came from (page, platform, conversation), which fields a
  stream keeps or drops, which platform a conversation needing the messages edge belongs to.
- ``record_filters``: the messages new since the stream's watermark.
- ``normalization``: every record typed as its schema says (RFC 3339 times included); a record
  whose key or cursor cannot be read ends the read clearly.
- ``decoders``: a Graph page parsed once, however many components read it; its shape checked.
- ``paginators``: Graph cursor paging that ends only without ``paging.next`` and never loops.
- ``error_handlers``: Meta's usage headers read on every answer; a refused saved cursor.
- ``backoff_strategies``: as long as Meta says, the sync's total wait bounded.
- ``rate_policies``: Meta's rate, each call counted from its answer, against the budget of the
  platform it concerns (the messages edge with its conversation's platform).
- ``usage``, ``timestamps`` and ``graph_calls``: Meta's usage headers, Graph's timestamps and
  what a request is for (from its URL), read as values.

Every one uses the CDK's public interfaces only; what needs a CDK internal is in
``cdk_adaptations``.
"""
