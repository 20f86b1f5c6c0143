"""Helpers for transcription tests: loopback HTTP servers and the known sentences.

Imported as ``support.transcription`` by the transcription integration tests and their
``conftest.py`` (pytest's ``pythonpath`` setting puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

#: What the espeak speech says; WER is measured against this.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to buy fresh bread and milk on the way home.",
    "The weather today is sunny with a light breeze from the west.",
    "Our meeting has been moved to three o'clock on Thursday afternoon.",
    "She opened the window and listened to the birds singing in the garden.",
)

Handler = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients that hang up early are expected here


@dataclass
class LoopbackServer:
    """A threaded HTTP server on a loopback address with per-path handlers."""

    host: str = "127.0.0.1"
    routes: dict[str, Handler] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    tls: ssl.SSLContext | None = None

    def start(self) -> LoopbackServer:
        server = self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        class Req(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server.hits.append(self.path)
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                route(self)

        srv_cls = type("S", (_Server,), {"address_family": family})
        self._srv = srv_cls((self.host, 0), Req)
        if self.tls is not None:
            self._srv.socket = self.tls.wrap_socket(self._srv.socket, server_side=True)
        self.port = self._srv.server_address[1]
        self._thread = threading.Thread(
            target=self._srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()

    def url(self, path: str = "/") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"


def reply(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    def handle(req: BaseHTTPRequestHandler) -> None:
        req.send_response(status)
        for k, v in (headers or {}).items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)

    return handle


def stream(total: int, *, chunk: int = 65536, pause_s: float = 0.0) -> Handler:
    """A body with no Content-Length, streamed until the connection closes."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Connection", "close")
        req.end_headers()
        sent = 0
        try:
            while sent < total:
                req.wfile.write(b"\0" * min(chunk, total - sent))
                req.wfile.flush()
                sent += chunk
                if pause_s:
                    time.sleep(pause_s)
        except OSError:
            return
        req.close_connection = True

    return handle


#: Spent + held, for the transcription budget, in one snapshot.
TOTAL_SPENT_AND_HELD = text(
    "SELECT (SELECT coalesce(sum(usd), 0) FROM ml_costs WHERE task = 'transcribe') + "
    "(SELECT coalesce(sum(usd), 0) FROM ml_budget_reservations "
    " WHERE task = 'transcribe' AND status = 'held' AND expires_at > now())"
)


class Sampler(threading.Thread):
    """Polls spent + held until stopped; keeps the maximum seen."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.peak = Decimal(0)
        self.samples = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                self.peak = max(self.peak, Decimal(conn.execute(TOTAL_SPENT_AND_HELD).scalar_one()))
                conn.commit()
                self.samples += 1
                self.stop.wait(0.01)


def make_tls(directory: Path, hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway CA and a certificate for ``hostname``: (server context, client context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test CA"))
        .issuer_name(name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "cert.pem").write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client
