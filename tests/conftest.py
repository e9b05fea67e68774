"""Suite-wide guards and the in-process room harness.

Like python-telegram-bot's suite, any attempt to reach a non-loopback address
fails the test: the suite must never depend on the network.
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

# The project's packages, imported before any test module puts tests/ on sys.path to reach this
# conftest's helpers: once tests/ is there, tests/brain (no __init__.py) would be found first and
# shadow the real brain package as a namespace package.
import adapters  # noqa: F401,E402
import bots  # noqa: F401,E402
import brain  # noqa: F401,E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and socketpairs are local
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a hostname that would need DNS


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(method):
        def connect(self, address):  # type: ignore[no-untyped-def]
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
                raise NetworkAccessError(f"test tried to reach the network: {address!r}")
            return method(self, address)
        return connect

    socket.socket.connect = guarded(real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded(real_connect_ex)  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _each_batch_encoded_once():
    """Every bot a test builds embeds its knowledge base's candidate answers with the multilingual USE
    (``answers.reader``) as it loads: the same texts in the same batch each time, ~0.5 s of numpy per bot,
    for a few hundred bots a run. The encoder is deterministic (a batch gives the same bits every time),
    so this process encodes a batch once and hands out copies: every test gets, bit for bit, what the
    encoder gives. ``LIVEROOM_TEST_ENCODE=verify`` encodes every batch anyway and fails the run if a batch
    ever came out different; ``=always`` turns the memo off. Bots in other processes are not affected."""
    import threading
    from collections import OrderedDict

    import numpy as np

    from brain.retrieval.embedders import UniversalSentenceEncoder

    mode = os.environ.get("LIVEROOM_TEST_ENCODE", "once")
    if mode == "always":
        yield
        return
    encode = UniversalSentenceEncoder.embed
    done: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
    lock = threading.Lock()
    differed: list[tuple[str, ...]] = []

    def embed(self: UniversalSentenceEncoder, texts: Any) -> np.ndarray:
        key = (self.threads, *texts)
        with lock:
            vectors = done.get(key)
            if vectors is not None:
                done.move_to_end(key)
        if vectors is None or mode == "verify":
            fresh = encode(self, texts)
            if vectors is not None and not np.array_equal(vectors, fresh):
                differed.append(tuple(texts))
            vectors = fresh
            with lock:
                done[key] = fresh
                if len(done) > 2048:
                    done.popitem(last=False)
        return vectors.copy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(UniversalSentenceEncoder, "embed", embed)
        yield
    assert not differed, f"the USE encoded {len(differed)} batches differently the second time: {differed[:3]}"


@pytest.fixture(autouse=True, scope="session")
def _abuse_watch_gathers_briefly():
    """The moderation's abuse watch gathers viewers' lines for 0.5 s before it classifies them as a batch,
    and a bot's shutdown waits for that batch: most feature tests end within 0.5 s of their last viewer
    line and sat out the rest of it. Here it gathers for 0.05 s; what it does with the lines is the same.
    Bots in other processes keep 0.5 s."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bots.features.moderation._ABUSE_INTERVAL", 0.05)
        yield


def write_log(path: Path, n: int, *, start: int = 0, bad_every: int = 0) -> Path:
    """A JSON Lines chat log of ``n`` numbered messages in room ``bench`` (every ``bad_every``-th line broken)."""
    import json

    with path.open("w", encoding="utf-8") as f:
        for i in range(start, start + n):
            if bad_every and i % bad_every == 0:
                f.write("{broken\n")
                continue
            f.write(json.dumps({"id": str(i), "ts": f"2026-11-20T20:{(i // 60) % 60:02d}:{i % 60:02d}+08:00",
                                "user": f"viewer{i % 50}", "text": f"message number {i}",
                                "room": "bench"}) + "\n")
    return path


def kill_when_stored(proc: "subprocess.Popen", db: Path, rows: int, timeout: float = 60.0) -> int:
    """SIGKILL ``proc`` once its SQLite ``db`` holds at least ``rows`` events; returns the count seen then.

    Fails if the process ends first (the workload was too small to be killed midway).
    """
    import signal
    import sqlite3
    import time

    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and seen < rows:
            if db.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                        seen = conn.execute("select count(*) from events").fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # table not created yet
            time.sleep(0.05)
        assert proc.poll() is None, "the process ended before it could be killed: give it more work"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL and seen >= rows
    return seen


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


def make_config(**sections: Any):
    """A test config: the shipped knowledge folder, the fast hashing embedder, no hold before
    posting answers. Pass sections to override, e.g. ``answers={"enabled": False}``."""
    from bots.runtime.config import Config

    data: dict[str, Any] = {
        "knowledge": {"path": str(ROOT / "knowledge")},
        "retrieval": {"embedder": "hashing"},
        # The fitted bars suit the packaged MiniLM's retrieval scores; the hashing embedder's are lower.
        "answers": {"hold": 0.0, "bars": {"en": 0.45, "zh": 0.45}},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return Config.model_validate(data)


@pytest.fixture
async def runtime(data_dir: Path, deployment):
    """A real runtime (real store, registry, router, brain) in a temp data dir, for the deployment."""
    rt = deployment.build(data_dir)
    yield rt
    await close_runtime(rt)


async def close_runtime(rt: Any) -> None:
    """End a runtime a test drove without `Runtime.serve`: what serve's shutdown does, in the same order
    (on the distributed deployment its worker does this as it stops)."""
    cluster = _CLUSTERS.pop(id(rt), None)
    if cluster is not None:
        await cluster.close()
    if rt.answering is not None:
        await rt.answering.drain()
    if rt.moderation is not None:
        await rt.moderation.drain()
    await rt.brain.aclose()
    rt.close()


#: runtime id → the ingress and worker serving it, for the rooms of the distributed deployment
_CLUSTERS: dict[int, Any] = {}


class ConsoleRoom:
    """errbot-style test backend: the real console adapter, driven in-process.

    Given a ``deployment`` (the fixture), the room is served the way that deployment serves it: on the
    distributed one its lines go through Redis to a worker and the replies come back the same way.
    """

    def __init__(self, runtime: Any, name: str = "console", deployment: Any = None) -> None:
        from adapters.console import ConsoleAdapter

        self.runtime = runtime
        self.out = io.StringIO()
        self.adapter = ConsoleAdapter(room="test", user="viewer1", name=name, stdin=io.StringIO(""),
                                      stdout=self.out, prompt=False)
        self.cluster = deployment.cluster(runtime) if deployment is not None else None
        if self.cluster is None:
            runtime.router.attach(self.adapter)
        else:
            _CLUSTERS[id(runtime)] = self.cluster
            self.cluster.add(self.adapter)

    async def as_user(self, name: str, role: str = "viewer") -> None:
        await self.adapter.handle_line(f"/as {role} {name}")

    async def say(self, line: str, *, settle: bool = False) -> str:
        """Type one line; returns what the room printed in response.

        With ``settle``, also waits until the bot answered every queued question.
        """
        if self.cluster is not None:
            await self.cluster.start()
        start = self.out.tell()
        await self.adapter.handle_line(line)
        if self.cluster is not None:
            await self.cluster.caught_up()
        if settle:
            await self.settle()
        self.out.seek(start)
        printed = self.out.read()
        self.out.seek(0, io.SEEK_END)
        return printed

    async def settle(self) -> None:
        if self.runtime.answering is not None:
            await self.runtime.answering.drain()
        await self.delivered()

    async def delivered(self) -> None:
        """Wait until what the bot wrote so far is printed (at once in one process)."""
        if self.cluster is not None and self.cluster.worker is not None:
            await self.cluster.delivered()

    async def end(self) -> None:
        """This life of the bot ends (a restart may follow): the answers in flight finish, the runtime
        closes (on the distributed deployment the worker stops as on SIGTERM)."""
        if self.cluster is not None:
            _CLUSTERS.pop(id(self.runtime), None)
            await self.cluster.close()
        elif self.runtime.answering is not None:
            await self.runtime.answering.drain()
        self.runtime.close()


@pytest.fixture
def room(runtime, deployment) -> ConsoleRoom:
    return ConsoleRoom(runtime, deployment=deployment)


# ---- the database every store test runs on: SQLite and a real PostgreSQL ---------------------------
def _load_helper(relative: str) -> Any:
    """A helper module under tests/, loaded by path (tests/ is not a package and stays off sys.path)."""
    import importlib.util
    import sys

    path = ROOT / "tests" / relative
    name = "liveroom_test_" + path.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def start_or_skip(server: Any, unavailable: type[Exception], name: str, required: str) -> Any:
    """Start a loopback server (tests/servers/loopback.py); skip the test where it cannot start, or fail
    it where the environment variable ``required`` says the server must be there (CI)."""
    try:
        server.start()
    except unavailable as exc:
        server.stop()
        if os.environ.get(required) == "1":
            pytest.fail(f"{name} is required here ({required}=1) and did not start: {exc}")
        pytest.skip(f"{name} cannot be started here: {exc}")
    return server


def loopback() -> Any:
    return _load_helper("servers/loopback.py")


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throw-away PostgreSQL cluster on loopback for the whole run (in RAM where there is room)."""
    servers = loopback()
    cluster = start_or_skip(servers.PostgresCluster(in_ram=True), servers.PostgresUnavailable, "PostgreSQL",
                            "LIVEROOM_REQUIRE_POSTGRES")
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a new database on the PostgreSQL cluster.

    Tests that take it run the same assertions on both engines (``database.url`` is a config
    change, and this is what keeps that promise).
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'liveroom.db'}"
    return request.getfixturevalue("postgres_cluster").new_database()


@pytest.fixture(scope="session")
def chroma_server():
    """The chromadb package's own server (``chroma run``) on loopback for the whole run."""
    server = loopback().ChromaServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server():
    """A fresh Redis on loopback for one test (Debian's redis-server; CI installs it)."""
    servers = loopback()
    server = start_or_skip(servers.RedisServer(), servers.RedisUnavailable, "Redis", "LIVEROOM_REQUIRE_REDIS")
    yield server
    server.close()


# ---- how the feature tests run the bot: one process, or ingress + worker through Redis ---------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``both_deployments`` run each test on both deployments; the rest on one process."""
    definition = metafunc.definition
    if ("deployment" in metafunc.fixturenames and definition.get_closest_marker("both_deployments")
            and not definition.get_closest_marker("one_process")):
        metafunc.parametrize("deployment", ["embedded", "distributed"], indirect=True)


@pytest.fixture
async def deployment(request):
    """How the bot runs (tests/deployments.py): one process on SQLite, or an ingress and a worker through
    a real Redis on PostgreSQL and the Chroma server."""
    deployments = _load_helper("deployments.py")
    if getattr(request, "param", "embedded") == "embedded":
        yield deployments.Embedded(make_config)
        return
    chosen = distributed_deployment(request)
    try:
        yield chosen
    finally:
        await chosen.close()


def distributed_deployment(request: Any) -> Any:
    """The distributed deployment on this test's Redis and the session's PostgreSQL and Chroma server."""
    cluster = request.getfixturevalue("postgres_cluster")
    return _load_helper("deployments.py").Distributed(
        make_config, redis_url=request.getfixturevalue("redis_server").url, new_database=cluster.new_database,
        chroma_url=request.getfixturevalue("chroma_server").url)
