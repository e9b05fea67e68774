"""The Chroma server that ships with the chromadb package (``chroma run``), on loopback, for the tests
that share one vector index between processes (``retrieval.chroma_url``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

__all__ = ["ChromaServer"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
