"""Page access tokens, appsecret_proof and per-platform permissions.

The sandbox issues its own tokens (one main token, plus any a test asks for with chosen
permissions, expiry or Page role) so that every auth failure the connector must turn into a
config error can be produced on demand: missing token (104), unknown token (190/467), expired
token (190/463), no role on the Page (190/492), wrong or missing appsecret_proof (100), and a
missing permission, which fails on the platform that needs it only (a token without
``instagram_manage_messages`` still reads Messenger).
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from meta_graph_sandbox.errors import (
    CODE_INVALID_PARAMETER,
    CODE_PAGES_MESSAGING,
    CODE_PERMISSION,
    CODE_PERMISSION_200,
    CODE_TOKEN,
    CODE_TOKEN_MISSING,
    GRAPH_METHOD,
    SUBCODE_NO_ROLE_ON_PAGE,
    SUBCODE_TOKEN_EXPIRED,
    SUBCODE_TOKEN_INVALID,
    GraphError,
)
from meta_graph_sandbox.world import INSTAGRAM, MESSENGER

ALL_PERMISSIONS: tuple[str, ...] = (
    "pages_manage_metadata",
    "pages_read_engagement",
    "pages_messaging",
    "instagram_basic",
    "instagram_manage_messages",
)

# What each platform needs (the guide's "Before You Start"), in the order they are checked,
# with the code Graph uses when one is missing.
REQUIRED: Mapping[str, tuple[tuple[str, int], ...]] = {
    MESSENGER: (
        ("pages_messaging", CODE_PAGES_MESSAGING),
        ("pages_manage_metadata", CODE_PERMISSION_200),
        ("pages_read_engagement", CODE_PERMISSION),
    ),
    INSTAGRAM: (
        ("instagram_manage_messages", CODE_PERMISSION_200),
        ("instagram_basic", CODE_PERMISSION),
        ("pages_manage_metadata", CODE_PERMISSION_200),
    ),
}

_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class TokenInfo:
    """What the sandbox knows about a token."""

    permissions: frozenset[str]
    expired: bool = False
    role_on_page: bool = True
    main: bool = False


def appsecret_proof(token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the token keyed by the app secret, as Graph expects it."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def token_from_header(authorization: str | None) -> str | None:
    """The token of an ``Authorization: OAuth x`` or ``Authorization: Bearer x`` header."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() in ("oauth", "bearer") and value.strip():
        return value.strip()
    return None


class TokenStore:
    """The tokens this sandbox accepts, and the checks Graph makes on each call."""

    def __init__(self, seed: int, app_secret: str | None) -> None:
        self._rng = random.Random(f"tokens:{seed}")
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenInfo] = {}
        self.app_secret = app_secret
        self.main_token = self._new_token()
        self._tokens[self.main_token] = TokenInfo(frozenset(ALL_PERMISSIONS), main=True)

    def _new_token(self) -> str:
        # Page tokens start with EAA and are long; the length makes accidental matches impossible.
        return "EAAS" + "".join(self._rng.choice(_ALPHABET) for _ in range(180))

    def issue(
        self,
        permissions: Iterable[str] | None = None,
        *,
        expired: bool = False,
        role_on_page: bool = True,
    ) -> str:
        """A new token; ``permissions`` None means all the Conversations API needs."""
        granted = frozenset(ALL_PERMISSIONS if permissions is None else permissions)
        with self._lock:
            token = self._new_token()
            self._tokens[token] = TokenInfo(granted, expired, role_on_page)
        return token

    def authenticate(self, token: str | None, proof: str | None) -> TokenInfo:
        """Check a call's token and appsecret_proof; raise the Graph error when one fails."""
        if not token:
            raise GraphError(
                CODE_TOKEN_MISSING, "An access token is required to request this resource."
            )
        with self._lock:
            info = self._tokens.get(token)
        if info is None:
            raise GraphError(
                CODE_TOKEN,
                "Invalid OAuth access token - Cannot parse access token",
                subcode=SUBCODE_TOKEN_INVALID,
            )
        if info.expired:
            raise expired_token()
        if self.app_secret is not None:
            if not proof:
                raise GraphError(
                    CODE_INVALID_PARAMETER,
                    "API calls from the server require an appsecret_proof argument",
                    error_type=GRAPH_METHOD,
                )
            if not hmac.compare_digest(proof.lower(), appsecret_proof(token, self.app_secret)):
                raise GraphError(
                    CODE_INVALID_PARAMETER,
                    "Invalid appsecret_proof provided in the API argument",
                    error_type=GRAPH_METHOD,
                )
        if not info.role_on_page:
            raise GraphError(
                CODE_TOKEN,
                "Error validating access token: The user is not an administrator, editor, or "
                "moderator of this Page, or has no task on it that allows this request.",
                subcode=SUBCODE_NO_ROLE_ON_PAGE,
            )
        return info

    def is_main(self, token: str | None) -> bool:
        """Whether a token is the sandbox's main token (the one token-expiry expires)."""
        return token is not None and token == self.main_token


def expired_token() -> GraphError:
    """190/463: what an expired Page token gets."""
    return GraphError(
        CODE_TOKEN,
        "Error validating access token: Session has expired on Tuesday, 29-Sep-26 10:00:00 "
        "PDT. The current time is Thursday, 01-Oct-26 05:00:00 PDT.",
        subcode=SUBCODE_TOKEN_EXPIRED,
    )


def require_permissions(info: TokenInfo, platform: str) -> None:
    """Raise the permission error (HTTP 403) for the first permission a platform lacks."""
    for permission, code in REQUIRED[platform]:
        if permission not in info.permissions:
            raise GraphError(
                code,
                f"(#{code}) Requires {permission} permission to manage the object",
                status=403,
            )
