"""A loopback HTTP server that speaks a subset of the OpenAI API, for tests only.

The OpenAI providers are real code paths (docs/models.md, docs/transcription.md); this
server lets tests drive them over real HTTP without internet:
``POST /v1/audio/transcriptions`` (multipart, like whisper-1, answering ``verbose_json``),
plus scripted responses for fault injection (429 with ``Retry-After``, 5xx, slow answers).
Every request is recorded.
It binds 127.0.0.1 only and uses the standard library. It lives in ``tests/support`` and not
in the package: ``src/bookmarkai_ml`` holds no test server (tests/unit/test_architecture.py).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAV_HEADER_BYTES = 44
PCM16_MONO_16K_BYTES_PER_S = 32000


@dataclass(frozen=True, slots=True)
class StubResponse:
    """One scripted answer: status, headers and a JSON (or raw bytes) body."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, str]
    files: dict[str, bytes]
    body_bytes: int


class _QuietServer(ThreadingHTTPServer):
    """Ignores clients that hang up early (a timeout test does that on purpose)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body into text fields and file parts."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode()
    return fields, files


class OpenAIStub:
    """Start with ``with OpenAIStub() as stub:``; point ``base_url`` at ``stub.base_url``.

    ``transcript`` is what every transcription answers; ``{n}`` in it becomes the
    request's number, so chunked uploads get distinct texts.
    """

    def __init__(self, *, transcript: str = "hello from the stub", delay_s: float = 0.0) -> None:
        self.transcript = transcript
        self.delay_s = delay_s
        self.script: deque[StubResponse] = deque()
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> OpenAIStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_scripted(self) -> StubResponse | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def answer(self, request: RecordedRequest) -> StubResponse:
        """The default answer for an unscripted request."""
        if request.path.endswith("/audio/transcriptions"):
            return self._transcription(request)
        return StubResponse(404, {"error": {"message": f"no route {request.path}"}})

    def _transcription(self, request: RecordedRequest) -> StubResponse:
        audio = request.files.get("file")
        if not audio:
            return StubResponse(400, {"error": {"message": "file is required"}})
        if request.fields.get("model") != "whisper-1":
            return StubResponse(400, {"error": {"message": "unknown model"}})
        duration = max(0, len(audio) - WAV_HEADER_BYTES) / PCM16_MONO_16K_BYTES_PER_S
        with self._lock:
            text = self.transcript.replace("{n}", str(len(self.requests)))
        segment = {"id": 0, "start": 0.0, "end": round(duration, 3), "text": text}
        body = {
            "task": "transcribe",
            "language": "english",
            "duration": duration,
            "text": text,
            "segments": [segment] if text else [],
        }
        return StubResponse(200, body, delay_s=self.delay_s)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                ctype = self.headers.get("Content-Type", "")
                fields: dict[str, str] = {}
                files: dict[str, bytes] = {}
                if ctype.startswith("multipart/form-data"):
                    fields, files = parse_multipart(ctype, raw)
                elif raw:
                    fields = {"json": raw.decode()}
                request = RecordedRequest(
                    "POST", self.path, dict(self.headers.items()), fields, files, length
                )
                with stub._lock:
                    stub.requests.append(request)
                reply = stub._next_scripted() or stub.answer(request)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler
