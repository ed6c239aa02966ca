"""The HTTP side: one thread per connection, SUBSCRIBE answered with a chunked RecordIO stream.

The same server serves the master (scheduler API, ``/slaves``) and, one server
each, the simulated agents (files API, ``/state``): it hands every request to a
``handle(method, target, headers, body) -> Reply`` function.

Each RecordIO record goes out as one HTTP chunk. A stream the master closes
ends with the final zero-length chunk; a stream it drops (a fault, a master
failover) has its socket shut down with no final chunk, as when a master dies.
The thread writing a stream also watches the socket, so a scheduler that hangs
up is noticed at once, as libprocess notices it, not at the next heartbeat.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hippo_mesos_peer.frameworks import ABORT, END, EventStream
from hippo_mesos_peer.replies import Reply

Handle = Callable[[str, str, Mapping[str, str], bytes], Reply]
StreamClosed = Callable[[EventStream], None]

log = logging.getLogger(__name__)

_POLL = 0.05


def _peer_hung_up(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        reply = self.server.handle(self.command, self.path, self.headers, body)
        if reply.stream is None:
            self._send_plain(reply)
        else:
            self._send_stream(reply)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = self.rfile.readline()
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.send_error(400, "Malformed chunked request body")
                    return None
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Malformed Content-Length")
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send_plain(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _send_stream(self, reply: Reply) -> None:
        stream: EventStream = reply.stream
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            self._pump(stream)
        except OSError as exc:
            # The scheduler went away mid-write: exactly what the master must notice.
            log.debug("subscription stream %s broke: %s", stream.stream_id, exc)
        finally:
            if self.server.stream_closed is not None:
                self.server.stream_closed(stream)

    def _pump(self, stream: EventStream) -> None:
        while True:
            item = stream.next(_POLL)
            if item is None:
                if _peer_hung_up(self.connection):
                    return
                continue
            items = [item, *stream.ready()] if item is not END and item is not ABORT else [item]
            end = items.pop() if items[-1] is END or items[-1] is ABORT else None
            if items:
                # Records queued meanwhile go in one chunk: RecordIO frames them, not HTTP.
                data = b"".join(items)
                self.wfile.write(f"{len(data):X}\r\n".encode("ascii") + data + b"\r\n")
                self.wfile.flush()
            if end is END:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if end is ABORT:
                self.connection.shutdown(socket.SHUT_RDWR)
                return

    def version_string(self) -> str:
        return "mesos-test-peer"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handle: Handle, stream_closed: StreamClosed | None):
        self.handle = handle
        self.stream_closed = stream_closed
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_all_connections(self) -> None:
        """Shut every open connection, idle keep-alive ones included."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                log.debug("connection already closed while stopping the peer")


class HttpFrontend:
    """Serves ``handle`` on ``host:port`` (a free port when 0) from a background thread."""

    def __init__(
        self,
        handle: Handle,
        host: str,
        port: int,
        stream_closed: StreamClosed | None = None,
        name: str = "http",
    ):
        self._server = _Server((host, port), handle, stream_closed)
        self.host, self.port = self._server.server_address[:2]
        # A short poll interval keeps stop() quick; the loop itself costs next to nothing.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), name=f"mesos-peer-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.cut_all_connections()
        self._server.server_close()
        self._thread.join(timeout=5.0)
