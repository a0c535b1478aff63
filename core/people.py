"""Who answered: the user-id convention every component writes, defined once.

``telegram:<id>`` is a Telegram person, ``key:<key_id>`` an API caller holding a key an admin
issued (a person), ``web:<session>`` an anonymous web-page session and ``api:<...>`` an
anonymous API caller (named after its address, not reversibly).
"""

from __future__ import annotations

ANONYMOUS_PREFIXES = ("web:", "api:")


def is_anonymous(user_id: str) -> bool:
    """Whether ``user_id`` names an anonymous session or caller rather than a known person."""
    return user_id.startswith(ANONYMOUS_PREFIXES)
