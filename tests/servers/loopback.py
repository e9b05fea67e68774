"""Real servers on loopback for the tests and benchmarks that need them: PostgreSQL (a throw-away
cluster), Redis and the Chroma server of the chromadb package. Each listens on 127.0.0.1 on a free port,
keeps its data in a temporary folder, and is gone after ``stop``/``close``.

PostgreSQL: Debian's ``initdb``/``pg_ctl`` build a cluster with ``trust`` authentication; ``initdb``
refuses to run as root, so as root the cluster belongs to the ``postgres`` system user that Debian's
package creates. Redis: Debian's ``redis-server``, with an append-only file so a restart (stop, start)
keeps the streams, as a production Redis does. Chroma: ``chroma run``.

The test suite's PostgreSQL cluster (``PostgresCluster(in_ram=True)``) lies in ``/dev/shm`` where that is
a tmpfs with room: a run makes a database for each of some 200 tests, ~2 GB of copied template files that
this disk took 20-50 s to write and 5-13 s to delete at the end of the run; nothing a test checks depends
on where the files lie. The benchmarks keep theirs on disk, as a real server's.

Where a server is not installed, starting it raises the class's ``…Unavailable`` error with the
command that installs it; the fixtures skip those cases, except when ``LIVEROOM_REQUIRE_POSTGRES=1`` /
``LIVEROOM_REQUIRE_REDIS=1`` (CI sets both), where a missing server fails the run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

__all__ = ["PostgresCluster", "PostgresUnavailable", "RedisServer", "RedisUnavailable", "ChromaServer",
           "find_bindir"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _end(proc: "subprocess.Popen[bytes] | None") -> None:
    """Ask a throw-away server process to end; kill it if it has not within 2 s (the Chroma server takes
    over 10 s to end on SIGTERM, and nothing it holds outlives the test run)."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ram_folder() -> str | None:
    """``/dev/shm`` where it is a writable tmpfs with 8 GB free (a test run fills ~2 GB), else None (the
    temporary folder)."""
    shm = Path("/dev/shm")
    try:
        stat = os.statvfs(shm)
        with open("/proc/mounts", encoding="utf-8") as mounts:
            tmpfs = any(line.split()[1:3] == [str(shm), "tmpfs"] for line in mounts)
    except OSError:
        return None
    if tmpfs and os.access(shm, os.W_OK | os.X_OK) and stat.f_bavail * stat.f_frsize >= 8 << 30:
        return str(shm)
    return None


# ---- PostgreSQL ----------------------------------------------------------------------------------


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are missing or the cluster would not start."""


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's versioned folder first, then ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None




class PostgresCluster:
    """One cluster: :meth:`start`, then :meth:`new_database` per test, then :meth:`stop`."""

    def __init__(self, *, in_ram: bool = False) -> None:
        self.bindir = find_bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="liveroom-pg-", dir=_ram_folder() if in_ram else None))
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
                # PostgreSQL 15's default copies the template through the WAL (~8 MB a database, ~1 GB of
                # WAL a run); a plain file copy is 3x quicker and writes none (an empty template, no one on it).
                modern = int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) >= 150000
                conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (" STRATEGY FILE_COPY" if modern else "")))
        finally:
            engine.dispose()
        return self.url(name)

    def stop(self) -> None:
        if self.bindir is not None and self.data.exists():
            subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
                           capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


# ---- Redis ---------------------------------------------------------------------------------------


class RedisUnavailable(RuntimeError):
    """redis-server is not installed or did not start."""




class RedisServer:
    def __init__(self) -> None:
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="liveroom-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        if not Path(self.binary).exists():
            raise RedisUnavailable("redis-server is not installed: apt-get install redis-server")
        # appendonly: a restart (stop, start) keeps the streams, as a production Redis with AOF does; a stop
        # is SIGTERM, on which Redis writes its AOF out, so everysec (Redis's default) loses nothing here and
        # spares an fsync per write (always: ~1 ms each, which made the feature tests wait on the disk).
        self._proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                       "--dir", str(self.root), "--save", "", "--appendonly", "yes",
                                       "--appendfsync", "everysec", "--protected-mode", "no"],
                                      stdout=open(self.root / "log", "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisUnavailable(f"redis-server exited: {(self.root / 'log').read_text()[-1500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RedisUnavailable(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        _end(self._proc)
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


# ---- Chroma --------------------------------------------------------------------------------------


class ChromaServer:
    """``start`` a server over a temporary folder, ``url`` to reach it, ``stop`` to end it and remove the folder."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="liveroom-chroma-"))
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        binary = Path(sys.executable).with_name("chroma")
        if not binary.exists():
            binary = Path(shutil.which("chroma") or "chroma")
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self._proc = subprocess.Popen([str(binary), "run", "--path", str(self.root / "data"), "--host", "127.0.0.1",
                                       "--port", str(self.port)], stdout=subprocess.DEVNULL,
                                      stderr=open(self.root / "log", "wb"), env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chroma run exited ({self._proc.returncode}): "
                                   f"{(self.root / 'log').read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"chroma run did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        _end(self._proc)
        shutil.rmtree(self.root, ignore_errors=True)
