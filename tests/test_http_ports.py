"""The two small HTTP listeners of a dispatch process (the metrics endpoint and the Twilio webhook)
on loopback: a client trickling its request is cut off at the connection's deadline, slow clients
beyond the cap neither pile up threads nor keep the probes out, a listener busy answering refuses
the next connection at once, and both bind the host they are given (gRPC's form, as
``dispatch serve --host``).

Timing: deadlines are lowered to 1 s; every bound checked is several times what it measures."""

from __future__ import annotations

import inspect
import socket
import threading
import time
import urllib.request

import pytest
import requests

from dispatch import metrics
from dispatch.bootstrap import start_notifier
from dispatch.config import Settings, TwilioSettings
from dispatch.metrics import MetricsServer, listen_address, metrics_endpoint
from dispatch.notify.notifier import Notifier
from dispatch.notify.webhook import STATUS_PATH, WebhookServer
from dispatch.stream import MemoryEtaStream
from tests.support.fake_twilio import SID, TOKEN

PUBLIC = "https://dispatch.example.com/twilio"


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
needs_dual_stack = pytest.mark.skipif(
    not (ipv6_loopback() and socket.has_dualstack_ipv6()), reason="no dual-stack IPv6 here"
)


@pytest.fixture
def webhook():
    """A webhook on loopback whose connections have 1 s to send their request."""
    server = WebhookServer(
        Notifier(MemoryEtaStream(), sms=None), auth_token=TOKEN, public_url=PUBLIC, host="127.0.0.1", deadline=1.0
    )
    server.start()
    yield server
    server.close()


def trickle(port: int, head: bytes, slow: bytes, *, every: float = 0.5, give_up: float = 15.0) -> tuple[float, int]:
    """Send ``head`` at once, then ``slow`` one byte every ``every`` seconds until the server closes
    the connection; returns (seconds from connecting to the close, bytes of ``slow`` sent)."""
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(head)
        sent = 0
        while time.monotonic() - began < give_up:
            try:
                if sent < len(slow):
                    client.sendall(slow[sent : sent + 1])
                    sent += 1
                client.settimeout(every)
                if client.recv(1024) == b"":  # closed by the server, with no answer
                    return time.monotonic() - began, sent
                raise AssertionError("the server answered a request it had not received whole")
            except TimeoutError:
                continue  # still open: next byte
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - began, sent
    raise AssertionError(f"still connected after {give_up} s")


# ---------------------------------------------------------------------------- the deadline


def test_a_client_trickling_its_request_line_is_cut_off_at_the_metrics_deadline():
    srv = MetricsServer(0, host="127.0.0.1", deadline=1.0).start()
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"  # 41 bytes: 20 s at this pace
        took, sent = trickle(srv.port, b"", request)
        assert 0.9 <= took < 5.0 and sent < len(request)
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=5) as reply:
            assert reply.status == 200  # a prompt client is still answered
    finally:
        srv.close()


def test_a_client_trickling_its_body_is_cut_off_at_the_webhook_deadline(webhook):
    body = b"MessageSid=SM1&MessageStatus=delivered"
    head = (
        f"POST /twilio{STATUS_PATH} HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    took, sent = trickle(webhook.port, head, body)
    assert 0.9 <= took < 5.0 and sent < len(body)
    assert webhook.notifier.delivery_status("SM1") is None
    answer = requests.get(f"http://127.0.0.1:{webhook.port}/twilio{STATUS_PATH}", timeout=5)
    assert answer.status_code == 405  # still serving


# ---------------------------------------------------------------------------- the cap


def test_slow_clients_beyond_the_cap_do_not_keep_the_probes_out():
    cap = 4
    srv = MetricsServer(0, host="127.0.0.1", deadline=60.0, max_connections=cap).start()
    slow = []
    try:
        for _ in range(3 * cap):
            client = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            client.sendall(b"GET /hea")  # and nothing more
            slow.append(client)
        for path in ("/healthz", "/readyz", "/healthz"):
            began = time.monotonic()
            with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{path}", timeout=5) as reply:
                assert reply.status == 200
            assert time.monotonic() - began < 2.0
        assert srv.httpd.connections() <= cap
        # the oldest slow clients made room and were closed; the newest still hold theirs
        slow[0].settimeout(5)
        assert slow[0].recv(1024) == b""
        slow[-1].settimeout(0.2)
        with pytest.raises(TimeoutError):
            slow[-1].recv(1024)
    finally:
        for client in slow:
            client.close()
        srv.close()


def test_slow_clients_beyond_the_cap_do_not_stop_the_webhook():
    server = WebhookServer(
        Notifier(MemoryEtaStream(), sms=None), auth_token=TOKEN, public_url=PUBLIC, host="127.0.0.1", max_connections=3
    )
    server.start()
    slow = []
    try:
        for _ in range(10):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            client.sendall(b"POST /twilio/status HTTP/1.1\r\nContent-Le")
            slow.append(client)
        answer = requests.get(f"http://127.0.0.1:{server.port}/twilio{STATUS_PATH}", timeout=5)
        assert answer.status_code == 405
        assert server._httpd is not None and server._httpd.connections() <= 3
    finally:
        for client in slow:
            client.close()
        server.close()


def test_with_every_connection_being_answered_the_next_is_refused_at_once():
    answering, release = threading.Event(), threading.Event()

    def ready() -> bool:
        answering.set()
        return release.wait(10)

    srv = MetricsServer(0, host="127.0.0.1", ready=ready, max_connections=1).start()
    replies: list[int] = []
    first = threading.Thread(
        target=lambda: replies.append(urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/readyz", timeout=10).status)
    )
    first.start()
    try:
        assert answering.wait(5)
        began = time.monotonic()
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as client:
            answer = b""
            while chunk := client.recv(1024):  # the server answers and closes without reading
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 503 ") and answer.endswith(b"busy\n")
        assert time.monotonic() - began < 2.0
    finally:
        release.set()
        first.join(10)
        srv.close()
    assert replies == [200]


# ---------------------------------------------------------------------------- the host


@pytest.mark.parametrize(
    ("host", "family", "address"),
    [
        ("", socket.AF_INET, "0.0.0.0"),
        ("0.0.0.0", socket.AF_INET, "0.0.0.0"),
        ("127.0.0.1", socket.AF_INET, "127.0.0.1"),
        ("[127.0.0.1]", socket.AF_INET, "127.0.0.1"),
        ("::1", socket.AF_INET6, "::1"),
        ("[::1]", socket.AF_INET6, "::1"),
        ("localhost", socket.AF_INET, "127.0.0.1"),
    ],
)
def test_hosts_in_grpc_form_are_bind_addresses(host, family, address):
    assert listen_address(host) == (family, address, False)


def test_all_interfaces_in_grpc_form_is_dual_stack_where_the_host_has_ipv6():
    expected = (socket.AF_INET6, "::", True) if socket.has_dualstack_ipv6() else (socket.AF_INET, "0.0.0.0", False)
    assert listen_address("[::]") == listen_address("::") == expected


def test_binding_127_0_0_1_listens_on_loopback_only(webhook):
    srv = metrics_endpoint(0, host="127.0.0.1")
    assert srv is not None
    try:
        assert srv.httpd.server_address[0] == "127.0.0.1" and srv.host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/healthz", timeout=5) as reply:
            assert reply.status == 200
    finally:
        srv.close()
    assert webhook._httpd is not None and webhook._httpd.server_address[0] == "127.0.0.1"


def test_no_host_is_every_ipv4_interface_as_before():
    for call in (MetricsServer, metrics_endpoint, WebhookServer, start_notifier):
        assert inspect.signature(call).parameters["host"].default == "0.0.0.0"


def serves_on_the_ipv6_loopback(srv: MetricsServer) -> None:
    """``srv`` listens on ::1 (IPv6) and answers there; closed after."""
    try:
        assert srv.httpd.socket.family == socket.AF_INET6 and srv.httpd.server_address[0] == "::1"
        with urllib.request.urlopen(f"http://[::1]:{srv.port}/healthz", timeout=5) as reply:
            assert reply.status == 200
    finally:
        srv.close()


@needs_ipv6
@pytest.mark.parametrize("host", ["[::1]", "::1"])
def test_binding_the_ipv6_loopback(host):
    srv = metrics_endpoint(0, host=host)
    assert srv is not None
    serves_on_the_ipv6_loopback(srv)


@needs_dual_stack
def test_a_dual_stack_socket_binds(monkeypatch):
    # "[::]" itself would listen beyond loopback: the dual-stack socket (IPV6_V6ONLY off) is tried
    # on ::1, where Linux turns the option back on at bind (a specific address is IPv6 only)
    monkeypatch.setattr(metrics, "listen_address", lambda host: (socket.AF_INET6, "::1", True))
    srv = MetricsServer(0, host="[::]").start()
    serves_on_the_ipv6_loopback(srv)


def test_start_notifier_binds_the_webhook_to_the_host_given():
    twilio = TwilioSettings(
        account_sid=SID, auth_token=TOKEN, from_number="+13035550000", webhook_url=PUBLIC, webhook_port=0
    )
    run = start_notifier(Settings(twilio=twilio), MemoryEtaStream(), "test-http-ports", host="127.0.0.1")
    try:
        assert run.webhook is not None
        assert run.webhook._httpd.server_address[0] == "127.0.0.1"
    finally:
        run.stop()
