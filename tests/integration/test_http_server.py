"""The HTTP endpoint's server: dual-stack, a timeout per connection, bounded concurrency.

The liveness probe must answer in any cluster (IPv4, IPv6, dual-stack) and whatever other
clients do: idle connections cost no thread, and slow ones are closed after a timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager

import pytest

from orchestrator_telemetry.serve.endpoints import Endpoints
from orchestrator_telemetry.serve.metrics import Monitor

pytestmark = pytest.mark.integration

IDLE_CONNECTIONS = 1000


@contextmanager
def serving(
    host: str,
    *,
    alive: object = None,
    connection_timeout: float = 10.0,
    max_connections: int = 32,
) -> Iterator[int]:
    """An endpoint listening on `host` and a free port; yields the port."""
    endpoints = Endpoints(
        Monitor(),
        alive=alive if callable(alive) else (lambda: True),
        preview=lambda: [],
    )
    port = endpoints.start(
        host, 0, connection_timeout=connection_timeout, max_connections=max_connections
    )
    try:
        yield port
    finally:
        endpoints.stop()


def healthz(address: str, port: int, timeout: float = 5.0) -> bytes:
    """The raw answer to GET /healthz over a plain socket to `address`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect((address, port))
        connection.sendall(b"GET /healthz HTTP/1.0\r\nHost: probe\r\n\r\n")
        chunks = []
        while chunk := connection.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def answered(address: str, port: int) -> bool:
    """Whether GET /healthz on `address` gets a 200."""
    try:
        return healthz(address, port).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


# dual-stack ------------------------------------------------------------------------------------


def test_by_default_it_answers_on_ipv4_and_ipv6() -> None:
    with serving("*") as port:
        assert answered("127.0.0.1", port)
        assert answered("::1", port)


def test_double_colon_accepts_both_families() -> None:
    with serving("::") as port:
        assert answered("127.0.0.1", port)
        assert answered("::1", port)


def test_a_literal_ipv4_address_binds_ipv4_only() -> None:
    with serving("127.0.0.1") as port:
        assert answered("127.0.0.1", port)
        assert not answered("::1", port)


def test_a_literal_ipv6_address_binds_ipv6_only() -> None:
    with serving("::1") as port:
        assert answered("::1", port)
        assert not answered("127.0.0.1", port)


# timeouts and bounds ---------------------------------------------------------------------------


def test_healthz_answers_while_1000_idle_connections_are_open() -> None:
    threads_before = threading.active_count()
    with serving("127.0.0.1", connection_timeout=60.0) as port, ExitStack() as stack:
        for _ in range(IDLE_CONNECTIONS):
            idle = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            idle.setblocking(False)
        time.sleep(0.5)  # let the server accept them all

        started = time.monotonic()
        answer = healthz("127.0.0.1", port)
        took = time.monotonic() - started
        threads_during = threading.active_count()

    assert answer.startswith(b"HTTP/1.0 200"), answer
    assert took < 2.0
    # Idle connections hold no thread: the server's own, and at most one worker per request.
    assert threads_during - threads_before <= 3


def test_an_idle_connection_is_closed_after_the_timeout() -> None:
    with (
        serving("127.0.0.1", connection_timeout=0.5) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as idle,
    ):
        started = time.monotonic()
        closed = idle.recv(1) == b""
        took = time.monotonic() - started

    assert closed
    assert 0.3 < took < 3.0


def test_a_request_sent_too_slowly_is_closed_after_the_timeout() -> None:
    with (
        serving("127.0.0.1", connection_timeout=0.5) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as slow,
    ):
        slow.sendall(b"GET /healthz HTTP/1.0\r\n")  # and never the blank line ending it
        started = time.monotonic()
        closed = slow.recv(4096) == b""
        took = time.monotonic() - started

    assert closed
    assert took < 3.0


def test_no_more_than_max_connections_requests_are_served_at_once() -> None:
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0

    def alive() -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(timeout=10)
        with lock:
            running -= 1
        return True

    with (
        serving("127.0.0.1", alive=alive, max_connections=2) as port,
        ThreadPoolExecutor(6) as clients,
    ):
        answers = [clients.submit(healthz, "127.0.0.1", port, 15.0) for _ in range(6)]
        time.sleep(1.0)
        busy_at_most = most
        release.set()
        results = [answer.result() for answer in answers]

    assert busy_at_most == 2
    assert all(result.startswith(b"HTTP/1.0 200") for result in results)
