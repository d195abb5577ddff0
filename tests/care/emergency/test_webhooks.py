"""The outgoing alert webhook (care/webhooks.py) against real local HTTP receivers on loopback.

A receiver that is down, or answers 500, or hangs: alerts stay in the on-disk outbox, are retried, and arrive once it
is back (also across a restart of the outbox); queuing never waits for the network; each POST is HMAC-signed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from emergency_world import SECRET, Receiver, wait_until

from care.alerts import Alert
from care.webhooks import (
    AlertForwarder,
    WebhookConfig,
    WebhookOutbox,
)
from tests.conftest import free_port


def alert(n: int) -> Alert:
    return Alert(id=f"emergency:0x{n:064x}", source="emergency", kind="break-glass", level="warning", raised_at=1_700_000_000 + n, block=n,
                 raised_by="0x" + "11" * 20, subject="0x" + "22" * 20, details={"reason_code": "ETREAT", "records_read": []})


def outbox(path: Path, port: int) -> WebhookOutbox:
    return WebhookOutbox(path, WebhookConfig(url=f"http://127.0.0.1:{port}/alerts", secret=SECRET), base_delay=0.05, max_delay=0.2, timeout=2.0)


def test_a_receiver_that_is_down_gets_every_alert_once_it_is_back(tmp_path: Path) -> None:
    port = free_port()
    box = outbox(tmp_path / "outbox", port)
    assert box.enqueue(alert(1)) and box.enqueue(alert(2)) and not box.enqueue(alert(1)), "queued once per id"
    box.deliver_due()  # nothing listens: both stay pending, with their failure recorded
    pending = box.pending()
    assert len(pending) == 2 and all(p["attempts"] == 1 and p["last_error"] for p in pending) and box.sent() == []

    # The institution's API restarts: a new outbox over the same directory still holds them.
    box = outbox(tmp_path / "outbox", port)
    assert len(box.pending()) == 2
    with Receiver(port, statuses=[500]) as receiver:  # the first answer is a server error: retried too
        box.start(poll=0.05)
        try:
            wait_until(lambda: len(receiver.received) == 2, "both alerts")
        finally:
            box.stop()
    assert sorted(r["alert"]["id"] for r in receiver.received) == [alert(1).id, alert(2).id]
    assert receiver.bad_signatures == 0 and box.pending() == [] and len(box.sent()) == 2
    assert max(s["attempts"] for s in box.sent()) >= 2
    assert not box.enqueue(alert(2)), "a delivered alert is not sent again"


def test_a_forged_signature_is_rejected_by_the_receiver(tmp_path: Path) -> None:
    port = free_port()
    box = WebhookOutbox(tmp_path / "outbox", WebhookConfig(url=f"http://127.0.0.1:{port}/", secret=b"not-the-shared-secret!!"), base_delay=0.05)
    box.enqueue(alert(3))
    with Receiver(port) as receiver:
        box.deliver_due()
    assert receiver.bad_signatures == 1 and receiver.received == [] and len(box.pending()) == 1, "kept for a retry, never lost"


@contextmanager
def hanging_receiver(port: int) -> Iterator[threading.Event]:
    """Accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", port))
    connected = threading.Event()
    conns: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
            conns.append(conn)
            connected.set()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield connected
    finally:
        for conn in conns:
            conn.close()
        listener.close()


def test_queuing_never_waits_for_a_hanging_receiver(tmp_path: Path) -> None:
    port = free_port()
    box = WebhookOutbox(tmp_path / "outbox", WebhookConfig(url=f"http://127.0.0.1:{port}/", secret=SECRET), base_delay=0.05, timeout=30.0)
    forwarded = [alert(10)]
    forwarder = AlertForwarder(lambda since: [a for a in forwarded if a.block >= since], box)
    with hanging_receiver(port) as connected:
        box.enqueue(alert(9))
        box.start(poll=0.05)
        try:
            wait_until(connected.is_set, "the delivery thread to be stuck in its POST")
            # The delivery thread waits on the receiver; queuing (what a read path would do) does not.
            assert forwarder.poll_once() == 1
            forwarded.append(alert(11))
            assert forwarder.poll_once() == 1, "only the new alert (the outbox drops what it holds)"
            assert len(box.pending()) == 3
        finally:
            box._stop.set()  # the stuck POST ends when the receiver closes
    box.stop()
