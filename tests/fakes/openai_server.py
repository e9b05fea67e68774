"""A loopback OpenAI-compatible server for tests: real HTTP, real SSE streaming.

It speaks ``POST /v1/chat/completions`` (streamed as ``data: {chunk}`` lines
ending with ``data: [DONE]``, or a single JSON body when not streamed), so the
real ``openai`` client is exercised end to end. Its "model" is a small, fixed
policy chosen per test:

- ``grounded``: answers with the first sentence of the first source in the
  prompt and cites it as [1] (a well-behaved model);
- ``gullible``: obeys any "say ..." instruction it finds anywhere in the
  prompt (a model that prompt injection works on), else behaves as grounded;
- ``slow``: sleeps ``delay`` seconds before answering;
- ``error``: answers HTTP 500.

Every request body is kept in ``requests`` so tests can check what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI"]

_SOURCE = re.compile(r"<source id=\"?(\d+)\"?[^>]*>\s*(.*?)</source>", re.S)
_SAY = re.compile(r"\bsay (?:that )?(.+?)(?:[.!\n]|$)", re.I)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timed-out request) is expected here, not an error."""
        import sys
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeOpenAI:
    """Start with ``with FakeOpenAI(mode) as fake:``; ``fake.base_url`` ends in ``/v1``."""

    def __init__(self, mode: str = "grounded", *, delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found"}})
                    return
                if outer.mode == "error":
                    self._json(500, {"error": {"message": "model exploded", "type": "server_error"}})
                    return
                if outer.mode == "slow":
                    time.sleep(outer.delay)
                answer = outer.policy(body)
                if body.get("stream"):
                    self._stream(body, answer)
                else:
                    self._json(200, {
                        "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": answer}}],
                    })

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], answer: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [answer[i:i + 8] for i in range(0, len(answer), 8)] or [""]
                for i, piece in enumerate(pieces):
                    chunk = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                             "model": body.get("model", "fake"),
                             "choices": [{"index": 0, "delta": ({"role": "assistant"} if i == 0 else {})
                                          | {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                done = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a "slow" handler must not hold the test up
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def policy(self, body: dict[str, Any]) -> str:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        if self.mode == "gullible":
            said = _SAY.search(prompt)
            if said:
                return said.group(1).strip()
        sources = _SOURCE.findall(prompt)
        if not sources:
            return "I don't know."
        first = re.split(r"(?<=[.!?。！？])\s*", sources[0][1].strip())[0]
        return f"{first} [{sources[0][0]}]"

    def __enter__(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
