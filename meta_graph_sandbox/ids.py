"""Object ids that look like Meta's and decode back to where the object lives.

A world of 20,000 conversations per platform holds hundreds of thousands of messages; keeping a
dictionary from every message id to its message would cost more memory than the messages
themselves. Instead a message id *is* its address (platform, conversation number, position),
mixed with seed-derived keys through an invertible 64-bit permutation and followed by a check
tag, so ids look random, differ between seeds, and an invented id fails the check instead of
landing on some message.

Shapes: Messenger messages ``m_`` + base64url; Instagram messages and conversations ``aWdG...``
(base64 of ``igF`` + payload, like the guide's ``aWdGGiblWZ...``); Messenger conversations
``t_`` + digits (those are few, kept in a dictionary by the world).
"""

from __future__ import annotations

import base64
import binascii
import random
from dataclasses import dataclass

_MASK = (1 << 64) - 1
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB
_C1_INV = pow(_C1, -1, 1 << 64)
_C2_INV = pow(_C2, -1, 1 << 64)

KIND_MESSAGE = 0
KIND_CONVERSATION = 1

_SEQ_BITS = 28
_INDEX_BITS = 32
_INSTAGRAM_PREFIX = b"igF"  # base64 "aWdG"
_TAG_BYTES = 7


def splitmix64(x: int) -> int:
    """One step of SplitMix64: a cheap, well-mixed 64-bit hash used for ids and data draws."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * _C1) & _MASK
    x = ((x ^ (x >> 27)) * _C2) & _MASK
    return x ^ (x >> 31)


@dataclass(frozen=True)
class Address:
    """Where an id points: a platform (0 Messenger, 1 Instagram), a kind, a conversation, a seq."""

    platform: int
    kind: int
    index: int
    seq: int


class IdCodec:
    """Encode and decode addresses as opaque ids, keyed by the world's seed."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"ids:{seed}")
        self._k1 = rng.getrandbits(64)
        self._k2 = rng.getrandbits(64)
        self._k3 = rng.getrandbits(64)

    def _mix(self, value: int) -> int:
        x = ((value ^ self._k1) * _C1) & _MASK
        x ^= x >> 32
        x = (x * _C2) & _MASK
        x ^= x >> 32
        return x ^ self._k2

    def _unmix(self, x: int) -> int:
        x ^= self._k2
        x ^= x >> 32
        x = (x * _C2_INV) & _MASK
        x ^= x >> 32
        x = (x * _C1_INV) & _MASK
        return x ^ self._k1

    def _payload(self, address: Address) -> bytes:
        value = (
            (address.platform << 63)
            | (address.kind << 62)
            | (address.index << _SEQ_BITS)
            | address.seq
        )
        mixed = self._mix(value)
        tag = splitmix64(mixed ^ self._k3) & ((1 << (8 * _TAG_BYTES)) - 1)
        return mixed.to_bytes(8, "big") + tag.to_bytes(_TAG_BYTES, "big")

    def encode(self, address: Address) -> str:
        """Return the id for an address, in the platform's shape."""
        if address.index >= 1 << _INDEX_BITS or address.seq >= 1 << _SEQ_BITS:
            raise ValueError("address out of range")
        payload = self._payload(address)
        if address.platform == 1:
            return base64.urlsafe_b64encode(_INSTAGRAM_PREFIX + payload).decode("ascii")
        return "m_" + base64.urlsafe_b64encode(payload).decode("ascii")

    def decode(self, object_id: str) -> Address | None:
        """Return the address an id points at, or None when it is not one of ours."""
        if object_id.startswith("m_"):
            text, platform, prefix = object_id[2:], 0, b""
        elif object_id.startswith("aWdG"):
            text, platform, prefix = object_id, 1, _INSTAGRAM_PREFIX
        else:
            return None
        try:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return None
        if not raw.startswith(prefix) or len(raw) != len(prefix) + 8 + _TAG_BYTES:
            return None
        raw = raw[len(prefix) :]
        mixed = int.from_bytes(raw[:8], "big")
        tag = splitmix64(mixed ^ self._k3) & ((1 << (8 * _TAG_BYTES)) - 1)
        if tag.to_bytes(_TAG_BYTES, "big") != raw[8:]:
            return None
        value = self._unmix(mixed)
        address = Address(
            platform=value >> 63,
            kind=(value >> 62) & 1,
            index=(value >> _SEQ_BITS) & ((1 << _INDEX_BITS) - 1),
            seq=value & ((1 << _SEQ_BITS) - 1),
        )
        if address.platform != platform:
            return None
        return address
