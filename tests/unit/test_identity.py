"""Who answered: signed sessions, API keys and their cache, anonymous callers, the id convention."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.api_keys import issue_key, key_id_of, list_keys, matches, revoke_key
from core.errors import ConfigurationError, UnknownApiKey
from core.people import is_anonymous
from core.settings import Settings, load_settings
from core.warehouse import Warehouse, open_warehouse
from model_server.identity import SECRET_FILE, Identity, KeyCache, session_secret


@pytest.fixture
def warehouse(settings: Settings) -> Warehouse:
    return open_warehouse(settings)


def test_a_signed_session_holds_and_any_change_to_it_does_not() -> None:
    identity = Identity(b"one secret")
    cookie = identity.new_cookie()
    session, _, signature = cookie.partition(".")
    assert identity.web_user(cookie) == f"web:{session}"
    assert identity.new_cookie() != cookie
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    other_session = ("f" if session[0] != "f" else "e") + session[1:]
    for forged in (
        f"{session}.{flipped}",  # tampered signature
        f"{other_session}.{signature}",  # someone else's session id, this signature
        session,  # the unsigned form sessions used to have
        Identity(b"another secret").new_cookie(),  # signed by another server
        "",
        ".",
    ):
        assert identity.web_user(forged) is None, forged


def test_an_anonymous_caller_is_named_after_its_address_but_does_not_reveal_it() -> None:
    identity = Identity(b"one secret")
    first = identity.anonymous_caller("203.0.113.7")
    assert first == identity.anonymous_caller("203.0.113.7")
    assert first.startswith("api:") and "203" not in first and "113" not in first
    assert first != identity.anonymous_caller("203.0.113.8")
    assert first != Identity(b"another secret").anonymous_caller("203.0.113.7")
    assert is_anonymous(first)


def test_the_user_id_convention_says_who_is_anonymous() -> None:
    assert is_anonymous("web:0123") and is_anonymous("api:ab12")
    assert not is_anonymous("telegram:42") and not is_anonymous("key:0b092d810611")


def test_the_local_secret_is_made_once_for_the_owner_only(settings: Settings) -> None:
    secret = session_secret(settings)
    path = settings.data_dir / SECRET_FILE
    assert len(secret) == 64 and path.read_bytes().strip() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(settings) == secret  # a restart keeps everyone's session
    assert sorted(p.name for p in settings.data_dir.iterdir() if "secret" in p.name) == [
        SECRET_FILE
    ]


def test_a_configured_secret_wins_and_gcp_requires_one(
    settings: Settings, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREATURE_VIS_SERVER__SESSION_SECRET", "a-real-secret-value-31415")
    assert session_secret(load_settings()) == b"a-real-secret-value-31415"
    assert not (data_dir / SECRET_FILE).exists()
    monkeypatch.delenv("CREATURE_VIS_SERVER__SESSION_SECRET")
    monkeypatch.setenv("CREATURE_VIS_PROFILE", "gcp")
    monkeypatch.setenv("CREATURE_VIS_GCP__PROJECT", "demo-project")
    with pytest.raises(ConfigurationError, match="CREATURE_VIS_SERVER__SESSION_SECRET"):
        session_secret(load_settings())
    monkeypatch.setenv("CREATURE_VIS_SERVER__SESSION_SECRET", "changeme")
    with pytest.raises(ConfigurationError, match="placeholder"):
        load_settings()


def test_a_key_is_stored_only_as_its_hash_and_stops_matching_when_revoked(
    warehouse: Warehouse,
) -> None:
    key, record = issue_key(warehouse, note="Ada, survey app", operator="cli:admin")
    assert key_id_of(key) == record.key_id and record.user_id == f"key:{record.key_id}"
    stored = warehouse.query("SELECT * FROM api_keys")
    assert len(stored) == 1 and key not in str(stored) and key.split("_")[-1] not in str(stored)
    (listed,) = list_keys(warehouse)
    assert listed.active and listed.note == "Ada, survey app" and matches(listed, key)
    assert not matches(listed, key[:-1] + ("A" if key[-1] != "A" else "B"))

    revoked = revoke_key(warehouse, record.key_id, operator="cli:admin")
    assert revoked.revoked_at is not None and not matches(revoked, key)
    again = revoke_key(warehouse, record.key_id, operator="cli:admin")
    assert again.revoked_at == revoked.revoked_at  # revoking twice changes nothing
    assert [k.active for k in list_keys(warehouse)] == [False]
    with pytest.raises(UnknownApiKey):
        revoke_key(warehouse, "000000000000", operator="cli:admin")


def test_only_well_formed_keys_have_an_id() -> None:
    assert key_id_of("cvk_0123456789ab_" + "x" * 43) == "0123456789ab"
    for bad in ("", "cvk_", "cvk_0123456789ab", "abc_0123456789ab_" + "x" * 43,
                "cvk_0123456789AB_" + "x" * 43, "cvk_0123456789ab_" + "x" * 42):  # fmt: skip
        assert key_id_of(bad) is None, bad


def test_a_revocation_reaches_the_cache_within_its_time(warehouse: Warehouse) -> None:
    now = [100.0]
    cache = KeyCache(warehouse, ttl=5.0, clock=lambda: now[0])
    key, record = issue_key(warehouse, note="Bob", operator="cli:admin")
    assert cache.holder(key).user_id == record.user_id
    revoke_key(warehouse, record.key_id, operator="cli:admin")
    now[0] = 104.9  # still within the 5 s the cache believes a lookup
    assert cache.holder(key).user_id == record.user_id
    now[0] = 105.0
    with pytest.raises(UnknownApiKey):
        cache.holder(key)
    fresh, _ = issue_key(warehouse, note="Cy", operator="cli:admin")
    uncached = KeyCache(warehouse, ttl=0.0, clock=lambda: now[0])
    assert uncached.holder(fresh).user_id.startswith("key:")
    revoke_key(warehouse, key_id_of(fresh) or "", operator="cli:admin")
    with pytest.raises(UnknownApiKey):
        uncached.holder(fresh)  # no cache: refused at once


def test_unknown_and_malformed_keys_name_nobody(warehouse: Warehouse) -> None:
    cache = KeyCache(warehouse, ttl=5.0)
    key, _ = issue_key(warehouse, note="Dee", operator="cli:admin")
    forged_id = "cvk_" + "0" * 12 + key[16:]
    for bad in (forged_id, "not a key", key + "x"):
        with pytest.raises(UnknownApiKey):
            cache.holder(bad)
