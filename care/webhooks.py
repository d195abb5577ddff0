"""The outgoing alert webhook: an institution may have every alert POSTed to a URL of its own (its on-call system).

Three promises:
- never blocks a read: raising an alert only writes a small file into an on-disk outbox; delivery runs in a thread;
- never loses an alert: an alert leaves `pending/` only after the receiver answered 2xx (then it moves to `sent/`);
  a receiver that is down is retried with exponential backoff (capped) for as long as it takes, across restarts;
- authenticated: each POST carries `X-Healthsilk-Timestamp` and `X-Healthsilk-Signature: sha256=<hex>`, the HMAC-SHA256
  of `timestamp + "." + body` under the shared secret (the receiver also rejects stale timestamps against replays).

Configured by `HEALTHSILK_ALERT_WEBHOOK_URL` and `HEALTHSILK_ALERT_WEBHOOK_SECRET` (see `WebhookConfig.from_env`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from care.alerts import Alert

SIGNATURE_HEADER = "X-Healthsilk-Signature"
TIMESTAMP_HEADER = "X-Healthsilk-Timestamp"


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: bytes

    @classmethod
    def from_env(cls) -> WebhookConfig | None:
        url, secret = os.environ.get("HEALTHSILK_ALERT_WEBHOOK_URL", ""), os.environ.get("HEALTHSILK_ALERT_WEBHOOK_SECRET", "")
        if not url:
            return None
        if len(secret) < 16:
            raise ValueError("HEALTHSILK_ALERT_WEBHOOK_SECRET must be at least 16 characters")
        return cls(url=url, secret=secret.encode("utf-8"))


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """The receiver's check (constant time)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookOutbox:
    """Alerts waiting for delivery, one JSON file each; a thread delivers them."""

    def __init__(self, directory: Path, config: WebhookConfig, *, base_delay: float = 1.0, max_delay: float = 300.0,
                 timeout: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.pending_dir = directory / "pending"
        self.sent_dir = directory / "sent"
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        self.sent_dir.mkdir(parents=True, exist_ok=True)
        self.base_delay, self.max_delay, self.timeout = base_delay, max_delay, timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ enqueue (cheap, never blocks on the network)

    def enqueue(self, alert: Alert) -> bool:
        """Queues `alert` once (by id); False when it was already queued or delivered."""
        name = hashlib.sha256(alert.id.encode("utf-8")).hexdigest() + ".json"
        with self._lock:
            if (self.pending_dir / name).exists() or (self.sent_dir / name).exists():
                return False
            item = {"alert": asdict(alert), "attempts": 0, "next_at": 0.0, "last_error": ""}
            _write_atomic(self.pending_dir / name, item)
        self._wake.set()
        return True

    def pending(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.pending_dir.glob("*.json"))]

    def sent(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted(self.sent_dir.glob("*.json"))]

    # ------------------------------------------------------------------ delivery

    def deliver_due(self) -> int:
        """One pass over the due alerts; returns how many were delivered."""
        delivered = 0
        now = self.clock()
        for path in sorted(self.pending_dir.glob("*.json")):
            item = json.loads(path.read_text())
            if item["next_at"] > now:
                continue
            body = json.dumps({"alert": item["alert"], "attempt": item["attempts"] + 1}, sort_keys=True).encode("utf-8")
            timestamp = str(int(self.clock()))
            headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(self.config.secret, timestamp, body)}
            try:
                response = httpx.post(self.config.url, content=body, headers=headers, timeout=self.timeout)
                ok, error = 200 <= response.status_code < 300, f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, type(exc).__name__
            with self._lock:
                if ok:
                    item["attempts"] += 1
                    item["delivered_at"] = self.clock()
                    _write_atomic(self.sent_dir / path.name, item)
                    path.unlink()
                    delivered += 1
                else:
                    item["attempts"] += 1
                    item["last_error"] = error
                    item["next_at"] = self.clock() + min(self.max_delay, self.base_delay * 2 ** (item["attempts"] - 1))
                    _write_atomic(path, item)
        return delivered

    def start(self, poll: float = 0.5) -> None:
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.deliver_due()
                except Exception:  # noqa: BLE001 - a broken file or disk hiccup must not end delivery for the rest
                    pass
                self._wake.wait(poll)
                self._wake.clear()

        self._thread = threading.Thread(target=run, name="alert-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class AlertForwarder:
    """Follows the alert sources and queues every new alert in the outbox (a thread; `poll_once` for one pass)."""

    def __init__(self, alerts: Callable[[int], list[Alert]], outbox: WebhookOutbox) -> None:
        self._alerts = alerts
        self.outbox = outbox
        self._since = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        found = self._alerts(self._since)
        queued = sum(1 for alert in found if self.outbox.enqueue(alert))
        if found:
            self._since = max(a.block for a in found)  # inclusive: the outbox drops what it already holds
        return queued

    def start(self, poll: float = 1.0) -> None:
        if self._thread is not None:
            return
        self.outbox.start()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # noqa: BLE001 - chain unreachable for a moment: try again next poll
                    pass
                self._stop.wait(poll)

        self._thread = threading.Thread(target=run, name="alert-forwarder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.outbox.stop()


def _write_atomic(path: Path, item: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(item, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
