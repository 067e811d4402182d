"""The config's secrets, and the one derived from them, registered with the CDK's secret filter.

The CDK masks (``****``) every string registered with ``airbyte_secrets_utils`` in its log lines
and sanitized traces. Its entrypoint registers the spec's ``airbyte_secret`` fields (the token
and the app secret), replacing whatever was registered before, and only once it runs: an error
raised while the source is built came before, and the ``appsecret_proof`` derived from both is in
no spec field. Yet the proof travels in every request's query string, and the CDK writes request
URLs into its messages ("'GET' request to '...&appsecret_proof=...' failed"); with it a request
can be signed for as long as the token lives.

``register_secrets`` registers the three as soon as a config is read (the source's constructor,
``check`` and ``read``, and the entrypoint's own secret filter), each once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.utils.airbyte_secrets_utils import add_to_secrets, filter_secrets

_MASK = "****"


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Meta's ``appsecret_proof``: hex HMAC-SHA256 of the token keyed by the app secret.

    The same as the manifest's ``config['access_token'] | hmac(config['app_secret'])``.
    """
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def config_secrets(config: Mapping[str, Any]) -> list[str]:
    """The token, the app secret and the appsecret_proof of ``config`` (those it has)."""
    token = config.get("access_token")
    app_secret = config.get("app_secret")
    secrets = [value for value in (token, app_secret) if isinstance(value, str) and value]
    if isinstance(token, str) and token and isinstance(app_secret, str) and app_secret:
        secrets.append(appsecret_proof(token, app_secret))
    return secrets


def register_secrets(config: Mapping[str, Any] | None) -> None:
    """Have the CDK mask ``config``'s secrets from now on (each registered once)."""
    for secret in config_secrets(config or {}):
        if filter_secrets(secret) != _MASK:
            add_to_secrets(secret)
