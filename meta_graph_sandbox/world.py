"""The sandbox's world: one Page, its Messenger and Instagram conversations, and their messages.

Generated from a seed, so that two sandboxes with the same options serve byte-identical data,
and mutable, so that tests can change the world between two syncs (new messages move a
conversation to the top of the list, as they do on Meta's side).

Memory: a conversation keeps only what cannot be recomputed: its id, its people, a few flags, the
``created_time`` of each message (an ``array('q')``) and who sent each one (a ``bytearray``).
Message ids are computed from (platform, conversation, position) by :mod:`ids`, and message
details are drawn on demand from a generator seeded by the same triple, because only the 20
newest messages of a conversation ever have details (the 20-message rule). Bounded LRUs keep
recently drawn details and rendered JSON fragments (see :mod:`render`), so a re-read is cheap and
memory stays flat however large the world.
"""

from __future__ import annotations

import bisect
import calendar
import copy
import random
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from meta_graph_sandbox.ids import (
    KIND_CONVERSATION,
    KIND_MESSAGE,
    Address,
    IdCodec,
    splitmix64,
)

MESSENGER = "messenger"
INSTAGRAM = "instagram"
PLATFORMS: tuple[str, ...] = (MESSENGER, INSTAGRAM)
PLATFORM_CODE = {MESSENGER: 0, INSTAGRAM: 1}

# Only the newest DETAILED_MESSAGES messages of a conversation have details (the guide's rule).
DETAILED_MESSAGES = 20

# Generated data ends here; fixed so that a seed always gives the same timestamps.
ANCHOR = calendar.timegm((2026, 10, 1, 12, 0, 0, 0, 0, 0))
_SPAN = 400 * 86400
_MASK = (1 << 64) - 1

FOLDERS = ("inbox", "page_done", "pending", "spam", "other")

_FIRST = (
    "Ada", "Bruno", "Chloé", "Dmitri", "Esra", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemi", "Luca", "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë",
)  # fmt: skip
_LAST = (
    "Andersen", "Baptiste", "Castillo", "Dubois", "Eriksen", "Fonseca", "García", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov",
    "Quispe", "Rossi", "Silva", "Tanaka", "Ueda", "Vargas", "Weber", "Yilmaz", "Zimmermann",
)  # fmt: skip
_TEXTS = (
    "Hi! Is the store open on Sunday?",
    "Thanks, that worked.",
    "Can I change the delivery address for order 4417?",
    "Hello 👋 do you ship to Norway?",
    "Our opening hours are 9:00-18:00, Monday to Saturday.",
    "Sure, I've updated it for you.",
    "Is this still available in size M?",
    "Great, see you tomorrow!",
    "Could you send me the invoice again please",
    "We've received your message and will reply shortly.",
    "ok",
    "¿Tienen descuento para estudiantes?",
    "The package arrived damaged, what should I do?",
    "Merci beaucoup !",
    "Please find the details below:\nOrder: 4417\nItems: 2",
    "Can you call me back at the number on my profile?",
    "Your refund has been issued. It can take 5-10 business days to appear.",
    '"Quoted" text with \\ backslash and <html> & ampersand',
)
_REACTIONS = ("❤", "😆", "😮", "😢", "😠", "👍")
_PAGE_NAMES = (
    "Sandbox Coffee Roasters",
    "Harbor Bike Repair",
    "Lumen Bookshop",
    "Northwind Outfitters",
)
_CDN = "https://scontent.xx.fbcdn.net/v/t1.15752-9"
# Messenger tags by direction; shared read-only by every message.
_PAGE_TAGS: dict[str, Any] = {"data": [{"name": "source:chat"}, {"name": "sent"}]}
_CUSTOMER_TAGS: dict[str, Any] = {"data": [{"name": "inbox"}, {"name": "read"}]}
_IG_CDN = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="


def format_time(seconds: int) -> str:
    """Graph's timestamp shape: ISO 8601 with a colon-less offset, ``2022-07-12T19:11:07+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(seconds))


class Draw:
    """A tiny seeded generator (SplitMix64) for per-message details.

    ``random.Random(seed)`` costs about 5 microseconds to seed and a page of 25 conversations
    with 20 detailed messages each draws 500 messages, so details use this instead, slicing
    each 64-bit word into several decisions.
    """

    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def bits(self) -> int:
        """Return the next 64 random bits (``splitmix64`` adds the stream's increment)."""
        value = splitmix64(self._state)
        self._state = (self._state + 0x9E3779B97F4A7C15) & _MASK
        return value


_K = TypeVar("_K")
_V = TypeVar("_V")


class Lru(Generic[_K, _V]):
    """A small least-recently-used cache (callers hold the world lock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        """The cached value, or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        """Cache a value, evicting the least recently used one when full."""
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class Person:
    """Someone in a conversation: the Page (or its Instagram account) or a customer."""

    __slots__ = ("_json", "id", "name", "platform", "username")

    def __init__(self, person_id: str, name: str, username: str, platform: str) -> None:
        self.id = person_id
        self.name = name
        self.username = username
        self.platform = platform
        self._json: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """Messenger people carry name and email; Instagram people carry a username.

        Built once and shared by every message that names this person: treat it as read-only.
        """
        if self._json is None:
            if self.platform == INSTAGRAM:
                self._json = {"username": self.username, "id": self.id}
            else:
                self._json = {"name": self.name, "email": f"{self.id}@facebook.com", "id": self.id}
        return self._json


@dataclass(frozen=True)
class PageIdentity:
    """The Facebook Page the sandbox serves and its linked Instagram professional account."""

    page: Person
    instagram: Person

    def person(self, platform: str) -> Person:
        """The Page's side of a conversation on a platform."""
        return self.instagram if platform == INSTAGRAM else self.page


class Conversation:
    """One thread between the Page and a customer (kept small: see the module docstring)."""

    __slots__ = (
        "can_reply",
        "customer",
        "folder",
        "former",
        "from_page",
        "id",
        "index",
        "is_owner",
        "platform",
        "thread_number",
        "times",
        "unread_count",
    )

    def __init__(
        self,
        conversation_id: str,
        platform: str,
        index: int,
        customer: Person,
        times: array[int],
        from_page: bytearray,
    ) -> None:
        self.id = conversation_id
        self.platform = platform
        self.index = index
        self.customer = customer
        self.times = times  # created_time of each message, oldest first, all distinct
        self.from_page = from_page  # 1 where the Page sent the message
        self.is_owner: bool | None = None
        self.can_reply = True
        self.unread_count = 0
        self.folder = "inbox"
        self.former: Person | None = None
        self.thread_number = 0

    @property
    def updated_time(self) -> int:
        """The newest message's created_time (the guide: when a message was last sent)."""
        return self.times[-1]

    @property
    def key(self) -> tuple[int, str]:
        """Sort key: conversations are listed by this key, descending."""
        return (self.times[-1], self.id)

    def has_details(self, seq: int) -> bool:
        """The 20-message rule: only the newest 20 messages have details."""
        return seq >= len(self.times) - DETAILED_MESSAGES


@dataclass(frozen=True)
class MessageDistribution:
    """How many messages conversations get: ``mixed`` (default), ``fixed:N`` or ``longtail``."""

    kind: str = "mixed"
    count: int = 0

    @classmethod
    def parse(cls, text: str) -> MessageDistribution:
        """Parse the ``--messages`` option."""
        text = text.strip().lower()
        if text in ("mixed", "longtail"):
            return cls(text)
        if text.startswith("fixed:"):
            try:
                count = int(text.split(":", 1)[1])
            except ValueError:
                count = 0
            if count >= 1:
                return cls("fixed", count)
        raise ValueError(f"messages must be mixed, longtail or fixed:N with N >= 1, not {text!r}")

    def draw(self, rng: random.Random) -> int:
        """One conversation's message count."""
        if self.kind == "fixed":
            return self.count
        roll = rng.random()
        if self.kind == "longtail":
            if roll < 0.60:
                return rng.randint(1, 20)
            if roll < 0.85:
                return rng.randint(21, 100)
            if roll < 0.95:
                return rng.randint(101, 500)
            return rng.randint(501, 1500)
        if roll < 0.70:
            return rng.randint(1, 20)
        if roll < 0.95:
            return rng.randint(21, 60)
        return rng.randint(101, 150)

    def guarantees(self) -> tuple[tuple[int, int], ...]:
        """Ranges at least one conversation must fall in, so a small world shows every rule."""
        if self.kind == "mixed":
            return ((21, 60), (101, 150))
        if self.kind == "longtail":
            return ((21, 100), (501, 1500))
        return ()


class World:
    """The in-memory Graph data, thread-safe through one re-entrant lock (``world.lock``).

    The server holds the lock while it renders an answer, so a mutation from a test never lands
    half-way through a page.
    """

    def __init__(
        self,
        seed: int = 7,
        conversations: int = 30,
        messages: str | MessageDistribution = "mixed",
        platforms: Iterable[str] = PLATFORMS,
        detail_cache_size: int = 4096,
        fragment_cache_size: int = 30000,
    ) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.platforms = tuple(platforms)
        self.ids = IdCodec(seed)
        distribution = (
            messages
            if isinstance(messages, MessageDistribution)
            else MessageDistribution.parse(messages)
        )
        self._rng = random.Random(seed)
        self._detail_seed = self._rng.getrandbits(64)
        self.page = self._make_page()
        self._by_id: dict[str, Conversation] = {}
        self._by_index: dict[str, list[Conversation]] = {p: [] for p in PLATFORMS}
        self._keys: dict[str, list[tuple[int, str]]] = {p: [] for p in PLATFORMS}
        self._by_user: dict[str, dict[str, Conversation]] = {p: {} for p in PLATFORMS}
        self._used_numbers: set[str] = set()
        self._newest = 0
        self._details: Lru[tuple[int, int, int], dict[str, Any]] = Lru(detail_cache_size)
        # Rendered messages as JSON text, keyed by (platform, conversation, seq, fields).
        self.fragments: Lru[tuple[Any, ...], str] = Lru(fragment_cache_size)
        for platform in self.platforms:
            self._generate(platform, conversations, distribution)
        # Mutations draw from their own stream so they never shift the generated data.
        self._mutation_rng = random.Random(f"mutations:{seed}")

    # ------------------------------------------------------------------ generation
    def _unique_digits(self, rng: random.Random, low: int, high: int) -> str:
        while True:
            value = str(rng.randrange(low, high))
            if value not in self._used_numbers:
                self._used_numbers.add(value)
                return value

    def _make_page(self) -> PageIdentity:
        name = self._rng.choice(_PAGE_NAMES)
        handle = name.lower().replace(" ", ".")
        page = Person(str(self._rng.randrange(10**14, 10**15)), name, handle, MESSENGER)
        instagram = Person(
            "17841" + str(self._rng.randrange(10**11, 10**12)), name, handle, INSTAGRAM
        )
        return PageIdentity(page, instagram)

    def _make_customer(self, rng: random.Random, platform: str) -> Person:
        first = rng.choice(_FIRST)
        last = rng.choice(_LAST)
        if platform == INSTAGRAM:
            number = self._unique_digits(rng, 10**16, 10**17)
        else:
            number = self._unique_digits(rng, 10**15, 10**16)
        username = f"{first}.{last}{rng.randrange(1, 1000)}".lower()
        return Person(number, f"{first} {last}", username, platform)

    def _new_id(self, rng: random.Random, platform: str, index: int) -> str:
        if platform == INSTAGRAM:
            return self.ids.encode(Address(1, KIND_CONVERSATION, index, 0))
        return "t_" + self._unique_digits(rng, 10**15, 10**16)

    def _history(self, rng: random.Random, newest: int, count: int) -> array[int]:
        """Message times ending at ``newest``: bursts of seconds apart, sessions days apart."""
        gaps = [
            rng.randint(5, 240) if rng.random() < 0.8 else rng.randint(3600, 3 * 86400)
            for _ in range(count - 1)
        ]
        times = array("q", [newest])
        current = newest
        for gap in gaps:
            current -= gap
            times.append(current)
        times.reverse()
        return times

    def _decorate(self, conversation: Conversation, rng: random.Random) -> None:
        """Per-conversation flags: is_owner true/false/absent, folders, unread counts."""
        roll = rng.random()
        conversation.is_owner = True if roll < 0.6 else False if roll < 0.85 else None
        conversation.can_reply = rng.random() < 0.9
        conversation.unread_count = 0 if rng.random() < 0.75 else rng.randint(1, 5)
        roll = rng.random()
        conversation.folder = (
            "inbox"
            if roll < 0.8
            else "page_done"
            if roll < 0.9
            else "pending"
            if roll < 0.95
            else "spam"
            if roll < 0.97
            else "other"
        )
        if rng.random() < 0.03:
            conversation.former = self._make_customer(rng, conversation.platform)
        conversation.thread_number = rng.randrange(10**14, 10**15)

    def _generate(self, platform: str, count: int, distribution: MessageDistribution) -> None:
        rng = self._rng
        counts = [distribution.draw(rng) for _ in range(count)]
        for low, high in distribution.guarantees():
            if count >= 3 and not any(low <= n <= high for n in counts):
                counts[rng.randrange(count)] = rng.randint(low, high)
        previous = 0
        for index, messages in enumerate(counts):
            # About 2% of conversations share their updated_time with another: real inboxes
            # have ties, and a connector's cursor must not lose one of the two.
            tie = previous and rng.random() < 0.02
            newest = previous if tie else ANCHOR - rng.randrange(_SPAN)
            previous = newest
            times = self._history(rng, newest, messages)
            from_page = bytearray(1 if rng.random() < 0.45 else 0 for _ in range(messages))
            from_page[0] = 0  # the customer opens the thread
            customer = self._make_customer(rng, platform)
            conversation = Conversation(
                self._new_id(rng, platform, index), platform, index, customer, times, from_page
            )
            self._decorate(conversation, rng)
            self._register(conversation)
        self._keys[platform].sort()

    def _register(self, conversation: Conversation) -> None:
        self._by_id[conversation.id] = conversation
        self._by_index[conversation.platform].append(conversation)
        self._keys[conversation.platform].append(conversation.key)
        self._by_user[conversation.platform][conversation.customer.id] = conversation
        self._newest = max(self._newest, conversation.updated_time)

    # ------------------------------------------------------------------ lookups
    def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation with this id, or None."""
        return self._by_id.get(conversation_id)

    def find_message(self, message_id: str) -> tuple[Conversation, int] | None:
        """The conversation and position (0 = oldest) of a message id, or None."""
        address = self.ids.decode(message_id)
        if address is None or address.kind != KIND_MESSAGE:
            return None
        platform = PLATFORMS[address.platform]
        conversations = self._by_index[platform]
        if address.index >= len(conversations):
            return None
        conversation = conversations[address.index]
        if address.seq >= len(conversation.times):
            return None
        return conversation, address.seq

    def conversation_by_user(self, platform: str, user_id: str) -> Conversation | None:
        """The conversation with one customer (the ``user_id`` parameter)."""
        return self._by_user[platform].get(user_id)

    def message_id(self, conversation: Conversation, seq: int) -> str:
        """The id of the message at position ``seq`` (0 = oldest) of a conversation."""
        return self.ids.encode(
            Address(PLATFORM_CODE[conversation.platform], KIND_MESSAGE, conversation.index, seq)
        )

    def ordered_keys(self, platform: str) -> list[tuple[int, str]]:
        """Sort keys of a platform's conversations, ascending (the API lists them reversed)."""
        return self._keys[platform]

    def conversation_for_key(self, key: tuple[int, str]) -> Conversation:
        """The conversation a sort key belongs to."""
        return self._by_id[key[1]]

    # ------------------------------------------------------------------ field values
    def conversation_value(self, conversation: Conversation, name: str) -> Any:
        """One conversation field's value, or None when Graph would omit it (no data)."""
        getter = _CONVERSATION_GETTERS.get(name)
        return getter(self, conversation) if getter else None

    def participants(self, conversation: Conversation) -> dict[str, Any]:
        """The customer and the Page (or its Instagram account), as ``{"data": [...]}``."""
        platform = conversation.platform
        return {
            "data": [
                conversation.customer.as_json(),
                self.page.person(platform).as_json(),
            ]
        }

    def snippet(self, conversation: Conversation) -> str:
        """The newest message's text, or what Messenger shows for a message without text."""
        seq = len(conversation.times) - 1
        text = self.message_detail(conversation, seq).get("message") or ""
        if text:
            return text[:100]
        if conversation.from_page[seq]:
            return "You sent an attachment."
        return f"{conversation.customer.name} sent an attachment."

    def message_detail(
        self, conversation: Conversation, seq: int, *, cache: bool = True
    ) -> dict[str, Any]:
        """Every field of one message that has data (callers check the 20-message rule).

        Drawn from a generator seeded by (seed, platform, conversation, position), so the same
        message always has the same content. Cached for direct reads and snippets; a caller
        that caches what it renders (the fragment cache) passes ``cache=False``.
        """
        cache_key = (PLATFORM_CODE[conversation.platform], conversation.index, seq)
        detail = self._details.get(cache_key)
        if detail is None:
            detail = self._draw_detail(conversation, seq)
            if cache:
                self._details.put(cache_key, detail)
        return detail

    def _draw_detail(self, conversation: Conversation, seq: int) -> dict[str, Any]:
        """Draw one message's content from two 64-bit words (see :class:`Draw` for why)."""
        platform = conversation.platform
        instagram = platform == INSTAGRAM
        draw = Draw(
            self._detail_seed ^ (PLATFORM_CODE[platform] << 62) ^ (conversation.index << 28) ^ seq
        )
        h = draw.bits()
        number = draw.bits() % 10**15  # ids and URL parts of attachments, shares, stickers
        from_page = bool(conversation.from_page[seq])
        page = self.page.person(platform)
        sender, recipient = (
            (page, conversation.customer) if from_page else (conversation.customer, page)
        )
        detail: dict[str, Any] = {
            "id": self.message_id(conversation, seq),
            "created_time": format_time(conversation.times[seq]),
            "from": sender.as_json(),
            "to": {"data": [recipient.as_json()]},
        }
        text: str = _TEXTS[(h & 0xFF) % len(_TEXTS)]
        roll = ((h >> 8) & 0xFFFF) / 65536.0
        keep_text = ((h >> 24) & 0xFF) < 102  # 40%: a caption next to an attachment or share
        if roll < 0.01:
            # Graph says nothing about an unsupported message but that it is one.
            detail["message"] = ""
            detail["is_unsupported"] = True
            return detail
        if roll < 0.13:
            detail["attachments"] = {"data": [self._attachment(draw, number)]}
            text = text if keep_text else ""
        elif roll < 0.16:
            detail["sticker"] = f"{_CDN}/{number}_n.png?stp=dst-png_s168x128"
            text = ""
        elif roll < 0.20:
            if instagram:
                # The guide: only the image or video URL of a share is returned on Instagram.
                share: dict[str, Any] = {"link": f"{_IG_CDN}{number}"}
            else:
                share = {
                    "id": str(number),
                    "link": f"https://shop.example.com/p/{number % 10000}",
                    "name": "Linen shirt - Sandbox Shop",
                    "description": "Relaxed fit, four colours.",
                    "picture": f"{_CDN}/{number}_n.jpg",
                }
            detail["shares"] = {"data": [share]}
            text = text if keep_text else ""
        elif instagram and roll < 0.24:
            story_kind = "reply_to" if keep_text else "mention"
            detail["story"] = {story_kind: {"link": f"{_IG_CDN}{number}", "id": str(number)}}
            text = text if keep_text else ""
        elif roll < 0.26:
            text = ""  # a message with no text and nothing else: Graph sends ""
        detail["message"] = text
        if seq > 0 and ((h >> 32) & 0xFF) < 26:  # 10% are replies
            target = seq - 1 - ((h >> 40) & 0xFF) % min(seq, 8)
            detail["reply_to"] = {
                "mid": self.message_id(conversation, target),
                "is_self_reply": bool(conversation.from_page[target]) == from_page,
            }
        if ((h >> 48) & 0xFF) < 20:  # 8% carry a reaction from the other side
            detail["reactions"] = {
                "data": [
                    {
                        "reaction": _REACTIONS[(h >> 56) % len(_REACTIONS)],
                        "users": [{"id": recipient.id, "username": recipient.username}],
                    }
                ]
            }
        if not instagram:
            detail["tags"] = _PAGE_TAGS if from_page else _CUSTOMER_TAGS
        return detail

    @staticmethod
    def _attachment(draw: Draw, number: int) -> dict[str, Any]:
        bits = draw.bits()
        kind = bits & 3
        if kind <= 1:
            width, height = ((1080, 1350), (1280, 720), (720, 960))[(bits >> 2) % 3]
            image_data: dict[str, Any] = {
                "url": f"{_CDN}/{number}_n.jpg",
                "preview_url": f"{_CDN}/p280x280/{number}_n.jpg",
                "width": width,
                "height": height,
                "max_width": width,
                "max_height": height,
                "render_as_sticker": False,
            }
            if kind == 1:
                image_data["animated_gif_url"] = f"{_CDN}/{number}_n.gif"
                image_data["animated_gif_preview_url"] = f"{_CDN}/p280x280/{number}_n.gif"
            return {
                "id": str(number),
                "mime_type": "image/gif" if kind == 1 else "image/jpeg",
                "name": f"image-{number}.{'gif' if kind == 1 else 'jpg'}",
                "size": 20000 + (bits >> 8) % 2_000_000,
                "image_data": image_data,
            }
        if kind == 2:
            return {
                "id": str(number),
                "mime_type": "video/mp4",
                "name": f"video-{number}.mp4",
                "size": 500_000 + (bits >> 8) % 40_000_000,
                "video_data": {
                    "url": f"https://video.xx.fbcdn.net/v/t42.3356-2/{number}_n.mp4",
                    "preview_url": f"{_CDN}/{number}_n.jpg",
                    "width": 720,
                    "height": 1280,
                    "length": 1 + (bits >> 40) % 120,
                    "video_type": "FILE_ATTACHMENT",
                    "rotation": 0,
                },
            }
        return {
            "id": str(number),
            "mime_type": "application/pdf",
            "name": f"invoice-{number % 100000}.pdf",
            "size": 10_000 + (bits >> 8) % 900_000,
            "file_url": f"https://cdn.fbsbx.com/v/t59.2708-21/{number}_n.pdf",
        }

    # ------------------------------------------------------------------ public views
    def conversation_view(self, conversation: Conversation) -> dict[str, Any]:
        """Every field of a conversation that has data, except its messages (the admin view)."""
        view: dict[str, Any] = {}
        for name in _CONVERSATION_GETTERS:
            value = self.conversation_value(conversation, name)
            if value is not None:
                view[name] = copy.deepcopy(value)
        return view

    def message_views(self, conversation: Conversation) -> list[dict[str, Any]]:
        """A conversation's messages, newest first, as the API shows them with every field.

        Except the ``paging`` of an ``attachments`` list: its links repeat the request's host,
        version and query credentials, so only an answer has it (render.attachment_paging).
        """
        out: list[dict[str, Any]] = []
        for seq in range(len(conversation.times) - 1, -1, -1):
            if conversation.has_details(seq):
                # A deep copy: cached details share nested objects and must stay intact.
                out.append(copy.deepcopy(self.message_detail(conversation, seq)))
            else:
                out.append(
                    {
                        "id": self.message_id(conversation, seq),
                        "created_time": format_time(conversation.times[seq]),
                    }
                )
        return out

    def conversations(self, platform: str) -> list[dict[str, Any]]:
        """A platform's conversations, newest first, with every field that has data."""
        with self.lock:
            return [
                self.conversation_view(self.conversation_for_key(key))
                for key in reversed(self._keys[platform.lower()])
            ]

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        """A conversation's messages, newest first (details for the 20 newest only).

        As the API answers them, without the attachments' ``paging`` (see ``message_views``).
        """
        with self.lock:
            conversation = self._require(conversation_id)
            return self.message_views(conversation)

    def summary(self) -> dict[str, Any]:
        """Per platform: conversation count, message count and conversation ids (newest first).

        ``{"messenger": {"conversations": 30, "messages": 712, "conversation_ids": [...]}, ...}``
        """
        with self.lock:
            return {
                platform: {
                    "conversations": len(self._keys[platform]),
                    "messages": sum(len(c.times) for c in self._by_index[platform]),
                    "conversation_ids": [key[1] for key in reversed(self._keys[platform])],
                }
                for platform in self.platforms
            }

    # ------------------------------------------------------------------ mutation
    def _require(self, conversation_id: str) -> Conversation:
        conversation = self._by_id.get(conversation_id)
        if conversation is None:
            raise KeyError(f"no conversation {conversation_id!r}")
        return conversation

    def add_messages(
        self, conversation_id: str, count: int, *, from_page: bool = False
    ) -> list[str]:
        """Append ``count`` messages, strictly newer than anything in the world; return their ids.

        The conversation's updated_time moves to the newest one, so it goes to the top of its
        platform's list, and its oldest messages may fall out of the 20 that have details.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            conversation = self._require(conversation_id)
            keys = self._keys[conversation.platform]
            del keys[bisect.bisect_left(keys, conversation.key)]
            current = self._newest
            ids = []
            for _ in range(count):
                current += self._mutation_rng.randint(1, 30)
                conversation.times.append(current)
                conversation.from_page.append(1 if from_page else 0)
                ids.append(self.message_id(conversation, len(conversation.times) - 1))
            self._newest = current
            conversation.unread_count = 0 if from_page else conversation.unread_count + count
            bisect.insort(keys, conversation.key)
            return ids

    def add_conversation(self, platform: str, messages: int) -> str:
        """Start a new conversation with a new customer, newer than everything; return its id."""
        platform = platform.lower()
        if platform not in self.platforms:
            raise ValueError(f"platform {platform!r} is not served by this sandbox")
        if messages < 1:
            raise ValueError("a conversation needs at least one message")
        with self.lock:
            index = len(self._by_index[platform])
            rng = self._mutation_rng
            times = self._history(rng, self._newest, messages)
            # Shift the whole history so its oldest message is newer than the world's newest.
            shift = self._newest + rng.randint(1, 30) - times[0]
            times = array("q", (t + shift for t in times))
            from_page = bytearray(1 if rng.random() < 0.45 else 0 for _ in range(messages))
            from_page[0] = 0
            customer = self._make_customer(rng, platform)
            conversation = Conversation(
                self._new_id(rng, platform, index), platform, index, customer, times, from_page
            )
            self._decorate(conversation, rng)
            self._register(conversation)
            keys = self._keys[platform]
            keys.pop()  # _register appended; keep the list sorted instead
            bisect.insort(keys, conversation.key)
            return conversation.id


def _link(world: World, c: Conversation) -> str | None:
    if c.platform == INSTAGRAM:
        return None
    return f"/{world.page.page.id}/inbox/{c.thread_number}/?section=messages"


def _messenger(
    getter: Callable[[World, Conversation], Any],
) -> Callable[[World, Conversation], Any]:
    """Messenger-oriented fields have no data on Instagram threads, so Graph omits them."""

    def wrapped(world: World, conversation: Conversation) -> Any:
        if conversation.platform == INSTAGRAM:
            return None
        return getter(world, conversation)

    return wrapped


def _former(world: World, c: Conversation) -> dict[str, Any] | None:
    return {"data": [c.former.as_json()]} if c.former else None


_CONVERSATION_GETTERS: dict[str, Callable[[World, Conversation], Any]] = {
    "id": lambda w, c: c.id,
    "updated_time": lambda w, c: format_time(c.times[-1]),
    "participants": lambda w, c: w.participants(c),
    "is_owner": lambda w, c: c.is_owner,
    "can_reply": _messenger(lambda w, c: c.can_reply),
    "folder": _messenger(lambda w, c: c.folder),
    "former_participants": _messenger(_former),
    "is_subscribed": _messenger(lambda w, c: True),
    "link": _link,
    "message_count": _messenger(lambda w, c: len(c.times)),
    "scoped_thread_key": _messenger(lambda w, c: f"t_{c.customer.id}"),
    "senders": _messenger(lambda w, c: w.participants(c)),
    "snippet": _messenger(lambda w, c: w.snippet(c)),
    "unread_count": _messenger(lambda w, c: c.unread_count or None),
    # name, subject and wallpaper: 1:1 threads have none, and Graph omits a field with no data.
    "name": lambda w, c: None,
    "subject": lambda w, c: None,
    "wallpaper": lambda w, c: None,
}
