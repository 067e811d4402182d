"""Airbyte source for Meta's Conversations API (Facebook Messenger and Instagram Messaging)."""

from source_meta_conversations import perf

perf.install()
