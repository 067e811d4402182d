"""ConfigBuilder: connector configs for unit tests."""

from __future__ import annotations

from typing import Any

PAGE_ID = "104839588217347"
ACCESS_TOKEN = "EAAGunit-test-page-access-token-ZDZD"
APP_SECRET = "unit-test-app-secret-0123456789"
BASE_URL = "https://graph.facebook.com"
API_VERSION = "v26.0"
# The spec's maximum. Unit tests pin which requests are made, not their pace: at Meta's 2 calls
# per second a retried error would make a test wait seconds for nothing.
UNPACED_REQUESTS_PER_SECOND = 50


class ConfigBuilder:
    """Builds a valid config, with fluent overrides for the scenario under test."""

    def __init__(self) -> None:
        self._config: dict[str, Any] = {
            "page_id": PAGE_ID,
            "access_token": ACCESS_TOKEN,
            "platform": "messenger",
            "max_requests_per_second": UNPACED_REQUESTS_PER_SECOND,
        }

    def with_platform(self, platform: str) -> ConfigBuilder:
        self._config["platform"] = platform
        return self

    def with_user_id(self, user_id: str) -> ConfigBuilder:
        self._config["user_id"] = user_id
        return self

    def with_only_owned_conversations(self) -> ConfigBuilder:
        self._config["only_owned_conversations"] = True
        return self

    def with_app_secret(self, secret: str = APP_SECRET) -> ConfigBuilder:
        self._config["app_secret"] = secret
        return self

    def with_field(self, key: str, value: Any) -> ConfigBuilder:
        self._config[key] = value
        return self

    def build(self) -> dict[str, Any]:
        return dict(self._config)
