"""The embedded Redis: one left by a killed run is replaced, someone else's is named."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from cli.embedded_redis import EmbeddedRedis
from core.errors import ConfigurationError
from testkit.workers_support import free_port, wait_until


def test_a_server_left_by_an_earlier_run_of_the_directory_is_replaced(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port())
    server.directory.mkdir()
    # What a killed run leaves: our server, still up, detached from anything we supervise.
    leftover = subprocess.Popen(server.argv(), start_new_session=True)
    client = redis.Redis.from_url(f"{server.url}/0")
    wait_until(lambda: _pings(client), 30, "the leftover server")
    client.set("kept", "yes")  # in its append-only file, so the new server has it again

    process = server.start()
    try:
        assert leftover.wait(timeout=30) == 0  # shut down cleanly, not killed
        assert client.get("kept") == b"yes"
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_someone_elses_server_on_the_port_is_refused_naming_the_setting(tmp_path: Path) -> None:
    theirs = EmbeddedRedis(tmp_path / "theirs", free_port(), persistent=False)
    process = theirs.start()
    try:
        ours = EmbeddedRedis(tmp_path / "ours", theirs.port)
        with pytest.raises(ConfigurationError, match="CREATURE_VIS_REDIS__EMBEDDED_PORT"):
            ours.start()
        assert process.poll() is None  # theirs is left alone
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_embedded_server_is_the_redis_6_2_the_code_must_keep_to(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False)
    process = server.start()
    try:
        info = redis.Redis.from_url(f"{server.url}/0").info("server")
        assert str(info["redis_version"]).startswith("6.2.")
    finally:
        process.terminate()
        process.wait(timeout=30)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
