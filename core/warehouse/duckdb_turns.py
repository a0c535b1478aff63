"""Processes take turns at a DuckDB file, each turn lasting until its checkpoint is written.

DuckDB's own file lock is not enough when several processes open and close one file: a
process whose open overlaps another process's checkpoint (the last connection closing writes
the data blocks and then the header) can read the header from before it, then write its own
checkpoint over the one just made, and rows that were committed and read back vanish. Seen
here with 3 processes x 2 threads inserting for 40 s: 25 of 7,065 committed rows lost; it is
how an answer's interaction went missing. So a process takes its turn with an advisory lock
of ours (``<file>.lock``), from its first connection's open to its last connection's close,
checkpoint included; the threads of one process share the turn.

Opening the file costs tens of milliseconds, while a second connection to a database the
process already has open costs almost nothing. A busy process (the server, a worker) may therefore
keep its turn while calls keep coming (``KeepOpen``), letting go after a short idle spell,
or after holding it ``max_hold`` seconds in a row while another process waits for its turn,
so the others get theirs. A process waiting for its turn says so with a shared lock on
``<file>.waiting``; nobody waiting, the busy process keeps its turn (every give-back costs
a checkpoint, and then a full open: about 20 ms of CPU).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import ClassVar

import duckdb


class Turn:
    """This process's turn at one DuckDB file, shared by its threads.

    The first connection of the process takes ``<file>.lock`` (waiting while another process
    has its turn), the last one to close gives it back after DuckDB's checkpoint. Opens and
    closes in the process happen one at a time; queries run side by side.
    """

    _all: ClassVar[dict[str, Turn]] = {}
    _registry: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.waiting_path = path.with_name(path.name + ".waiting")
        self.mutex = threading.Lock()
        # One probe of the waiters at a time: two threads' probes, each on its own descriptor,
        # would each take the other's for a waiting process.
        self._probing = threading.Lock()
        self.users = 0
        self.fd: int | None = None

    @classmethod
    def of(cls, path: Path) -> Turn:
        """The turn at the file ``path`` (one per file per process)."""
        key = str(path.resolve())
        with cls._registry:
            return cls._all.setdefault(key, cls(Path(key)))

    @classmethod
    def forget_after_fork(cls) -> None:
        """In a forked child: the parent's turns are the parent's (its lock stays with it)."""
        cls._registry = threading.Lock()
        for turn in cls._all.values():
            turn.mutex, turn.users, turn.fd = threading.Lock(), 0, None

    def open(self, deadline: float) -> duckdb.DuckDBPyConnection:
        """Take the turn if this process lacks it, then connect; IOException when busy."""
        with self.mutex:
            if self.users == 0:
                self._take(deadline)
            try:
                connection = connect_file(self.path, deadline)
            except BaseException:
                if self.users == 0:
                    self._give_back()
                raise
            self.users += 1
            return connection

    def close(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Close the connection; the last one gives the turn back after its checkpoint."""
        with self.mutex:
            try:
                connection.close()
            finally:
                self.users -= 1
                if self.users == 0:
                    self._give_back()

    def others_waiting(self) -> bool:
        """Whether another process waits for its turn (holds ``<file>.waiting`` shared)."""
        with self._probing:
            fd = os.open(self.waiting_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                return not _locked(fd, fcntl.LOCK_EX)
            finally:
                os.close(fd)  # closing drops the probe's lock

    def _take(self, deadline: float) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        waiting = -1  # the fd of ``<file>.waiting`` once this process says it waits
        delay = 0.002
        try:
            while not _locked(fd, fcntl.LOCK_EX):
                if time.monotonic() > deadline:
                    os.close(fd)
                    busy = f"Could not set lock on {self.lock_path}: another process has its turn"
                    raise duckdb.IOException(busy)
                waiting = _say_waiting(self.waiting_path, waiting)
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            self.fd = fd
        finally:
            if waiting >= 0:
                os.close(waiting)

    def _give_back(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


os.register_at_fork(after_in_child=Turn.forget_after_fork)


class KeepOpen:
    """Keeps this process's turn at a file, with one extra connection, while it is in use.

    ``idle`` outlasts a worker's flush interval (0.5 s by default), so a worker flushing
    steadily keeps the file open from one flush to the next.
    """

    def __init__(
        self, turn: Turn, *, idle: float = 1.0, max_hold: float = 3.0, rest: float = 0.3
    ) -> None:
        self.turn = turn
        self.idle, self.max_hold, self.rest = idle, max_hold, rest
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0
        self._last_use = 0.0
        self._resting_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._release_loop, name="duckdb-keepopen")
        self._thread.daemon = True
        self._thread.start()

    def touch(self) -> None:
        """Note a use; take the turn and hold it unless resting or another process has it."""
        now = time.monotonic()
        with self._lock:
            self._last_use = now
            if self._connection is not None or now < self._resting_until:
                return
            try:
                self._connection = self.turn.open(deadline=now)
            except duckdb.IOException:
                return  # another process has the file; the operation itself will wait
            self._opened_at = now

    def close(self) -> None:
        """Let go of the file for good."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._release(resting=False)

    def _release_loop(self) -> None:
        while not self._stop.wait(max(0.01, min(self.idle, self.max_hold) / 4)):
            if self.due(time.monotonic()):
                self._release(resting=True)

    def due(self, now: float) -> bool:
        """Whether to give the turn back: idle, or held ``max_hold`` while another waits."""
        with self._lock:
            if self._connection is None:
                return False
            if now - self._last_use > self.idle:
                return True
            held_long = now - self._opened_at > self.max_hold
        return held_long and self.turn.others_waiting()

    def _release(self, *, resting: bool) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
            if resting:
                self._resting_until = time.monotonic() + self.rest
        if connection is not None:
            self.turn.close(connection)


def _locked(fd: int, kind: int) -> bool:
    """Take an flock of ``kind`` on ``fd`` if free now; whether it was taken."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _say_waiting(path: Path, fd: int) -> int:
    """Hold ``path`` shared (once taken, kept); return its fd, or -1 when not taken yet.

    The holder's probe (``Turn.others_waiting``) holds it exclusively for an instant; a
    waiter that meets the probe says so on its next try.
    """
    if fd >= 0:
        return fd
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    if _locked(fd, fcntl.LOCK_SH):
        return fd
    os.close(fd)
    return -1


def connect_file(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    """Connect, waiting while a process that takes no turns (a DuckDB shell) holds the file."""
    delay = 0.005
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
