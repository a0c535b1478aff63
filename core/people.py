"""Who answered: the user-id convention every component writes, defined once.

``telegram:<id>`` is a Telegram person, ``key:<key_id>`` an API caller holding a key an admin
issued (a person), ``web:<session>`` an anonymous web-page session and ``api:<...>`` an
anonymous API caller (named after its address, not reversibly).
"""

from __future__ import annotations

TELEGRAM, WEB, API, KEY = "telegram:", "web:", "api:", "key:"
ANONYMOUS_PREFIXES = (WEB, API)


def telegram_user(telegram_user_id: int) -> str:
    """The user id of a Telegram person."""
    return f"{TELEGRAM}{telegram_user_id}"


def web_session(session: str) -> str:
    """The user id of an anonymous web-page session."""
    return f"{WEB}{session}"


def anonymous_api_caller(name: str) -> str:
    """The user id of an API caller without a key (``name``: not reversible to its address)."""
    return f"{API}{name}"


def key_holder(key_id: str) -> str:
    """The user id of the person holding API key ``key_id``."""
    return f"{KEY}{key_id}"


def is_anonymous(user_id: str) -> bool:
    """Whether ``user_id`` names an anonymous session or caller rather than a known person."""
    return user_id.startswith(ANONYMOUS_PREFIXES)
