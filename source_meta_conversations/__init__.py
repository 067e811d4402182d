"""Airbyte source for Meta's Conversations API (Facebook Messenger and Instagram Messaging).

Importing this package (or any module in it) changes nothing outside it: the adaptations of the
airbyte-cdk's internals are installed by the entrypoint (``run.py``), from ``cdk_adaptations``.
"""
