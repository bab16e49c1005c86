"""A TCP proxy in front of PostgreSQL that counts what crosses the wire, in both directions.

Bytes from the server are what a client really receives (rows, row descriptions, connection
start-up); requests are the client's Query ('Q') and extended-protocol Sync ('S') messages, each
of which the client waits on: its round trips to the server, BEGIN and ROLLBACK included.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

_UNTYPED_REQUESTS = {80877102, 80877103, 80877104}  # cancel, SSL and GSS-encryption requests
_ROUND_TRIPS = {ord("Q"), ord("S")}


@dataclass(frozen=True)
class Traffic:
    """What crossed the proxy since the last `take()`."""

    received: int  # bytes from the server to the client
    sent: int  # bytes from the client to the server
    requests: int  # Query and Sync messages: exchanges the client waited on
    connections: int


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received = self.sent = self.requests = self.connections = 0


class _FrontendParser:
    """Splits the client's byte stream into protocol messages, counting the round trips."""

    def __init__(self) -> None:
        self._buffer = b""
        self._started = False  # before the startup message, messages have no type byte

    def feed(self, data: bytes) -> int:
        """Consume `data`; return how many round-trip messages it completed."""
        self._buffer += data
        found = 0
        while True:
            if not self._started:
                if len(self._buffer) < 8:
                    return found
                length, code = struct.unpack("!ii", self._buffer[:8])
                if len(self._buffer) < length:
                    return found
                self._buffer = self._buffer[length:]
                self._started = code not in _UNTYPED_REQUESTS
                continue
            if len(self._buffer) < 5:
                return found
            kind = self._buffer[0]
            (length,) = struct.unpack("!i", self._buffer[1:5])
            if len(self._buffer) < 1 + length:
                return found
            self._buffer = self._buffer[1 + length :]
            found += kind in _ROUND_TRIPS


class CountingProxy:
    """Listens on a free local port and forwards every connection to `upstream_port`."""

    def __init__(self, upstream_port: int) -> None:
        """Bind the listening socket; `start()` begins accepting."""
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._counters = _Counters()
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        port: int = self._listener.getsockname()[1]
        return port

    def start(self) -> None:
        """Accept connections in a background thread."""
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def close(self) -> None:
        """Stop accepting; connections in flight end with their peers."""
        self._closed.set()
        self._listener.close()

    def take(self) -> Traffic:
        """The traffic since the previous call, and start counting afresh."""
        counters = self._counters
        with counters.lock:
            traffic = Traffic(
                counters.received, counters.sent, counters.requests, counters.connections
            )
            counters.received = counters.sent = counters.requests = counters.connections = 0
        return traffic

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._upstream)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._counters.lock:
                self._counters.connections += 1
            threading.Thread(
                target=self._pump_requests, args=(client, upstream), daemon=True
            ).start()
            threading.Thread(
                target=self._pump_responses, args=(upstream, client), daemon=True
            ).start()

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        parser = _FrontendParser()
        self._pump(client, upstream, lambda data: self._count_request(parser, data))

    def _pump_responses(self, upstream: socket.socket, client: socket.socket) -> None:
        self._pump(upstream, client, self._count_response)

    def _count_request(self, parser: _FrontendParser, data: bytes) -> None:
        requests = parser.feed(data)
        with self._counters.lock:
            self._counters.sent += len(data)
            self._counters.requests += requests

    def _count_response(self, data: bytes) -> None:
        with self._counters.lock:
            self._counters.received += len(data)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, count: Callable[[bytes], None]) -> None:
        try:
            while data := source.recv(65536):
                count(data)  # before forwarding: once the peer has it, it is counted
                target.sendall(data)
        except OSError:
            pass  # either side hung up
        finally:
            for sock in (source, target):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
