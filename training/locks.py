"""A process-wide lock that dies with its holder: single flight for retraining.

On PostgreSQL it is a session advisory lock taken on a connection of its own
(not Django's, which Celery and CONN_MAX_AGE may close or reuse between
tasks).  The server frees it the moment that connection ends, so a worker
killed with SIGKILL, or a host that vanishes (TCP keepalives notice within a
minute), never leaves it held.  On SQLite, the embedded single-host default, it
is an exclusive ``flock`` on a file under VAR_DIR, which the kernel frees when
the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)

RETRAIN_LOCK = "digitlab.retrain"


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class _PostgresLock:
    def __init__(self, name: str):
        self.key = _advisory_key(name)
        self.conn = None

    def acquire(self) -> bool:
        wrapper = connections["default"]
        params = wrapper.get_connection_params()
        # Notice a vanished peer within about a minute.
        params.update(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
        self.conn = wrapper.get_new_connection(params)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            got = bool(cur.fetchone()[0])
        if not got:
            self.release()
        return got

    def release(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()  # ending the session frees the lock
            finally:
                self.conn = None


class _FileLock:
    def __init__(self, name: str):
        folder = settings.VAR_DIR / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{name}.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@contextmanager
def single_flight(name: str = RETRAIN_LOCK) -> Iterator[bool]:
    """``with single_flight() as held:`` -- ``held`` is False when another
    process holds the lock; the body then must not do the guarded work."""
    vendor = connections["default"].vendor
    lock = _PostgresLock(name) if vendor == "postgresql" else _FileLock(name)
    held = lock.acquire()
    try:
        yield held
    finally:
        if held:
            lock.release()
