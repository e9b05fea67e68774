"""A throw-away PostgreSQL cluster on loopback, for the tests that run the store on a real server.

Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``) build a cluster in a temporary folder, listening
on 127.0.0.1 on a free port with ``trust`` authentication: nothing outside the test can reach it and it
leaves nothing behind. ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` system user that Debian's package creates.

Where PostgreSQL is not installed the cluster cannot start and :class:`PostgresUnavailable` says why;
the fixtures skip those cases, except when ``LIVEROOM_REQUIRE_POSTGRES=1`` (CI sets it), where a missing
server fails the run instead of silently testing SQLite alone.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_bindir"]


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the cluster would not start."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's versioned folder first, then ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """One cluster: :meth:`start`, then :meth:`new_database` per test, then :meth:`stop`."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="liveroom-pg-"))
        self.data = self.root / "data"
        self.user = "liveroom"
        self._run_as: list[str] = []

    def _cmd(self, *args: str) -> list[str]:
        return [*self._run_as, *args]

    def start(self) -> None:
        if self.bindir is None:
            raise PostgresUnavailable("PostgreSQL is not installed (no initdb): apt-get install postgresql")
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to own the cluster") from exc
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self._options, "-l",
                  str(self.root / "log"), "-w", "-t", "30", "start")

    @property
    def _options(self) -> str:
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=90)
        if done.returncode:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"{Path(args[0]).name} failed ({done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-2000:]}\n{tail}")

    def pause(self) -> None:
        """Stop the server, keeping its data (the database "unreachable" for a while)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start it again on the same port, after `pause`."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self._options, "-l",
                  str(self.root / "log"), "-w", "-t", "30", "start")

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL of ``database`` on this cluster (psycopg 3)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database (a test never sees another's rows); returns its URL."""
        import sqlalchemy as sa

        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        if self.bindir is not None and self.data.exists():
            subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
                           capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
