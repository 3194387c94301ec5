"""Delivery of Midtrans HTTP notifications to the merchant, in a background thread, with retries and a log.

Owns: the FIFO delivery queue (one worker thread, so notifications arrive in the order they were queued), the
retry policy (Midtrans re-sends on non-2xx / connection errors) and the delivery log (one entry per attempt).
"""
from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone


class Notifier:
    def __init__(self, retries: int = 2, retry_delay: float = 0.2, timeout: float = 5.0):
        self.retries, self.retry_delay, self.timeout = retries, retry_delay, timeout
        self.log: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self._pending = 0
        self._seq = 0
        self._generation = 0
        self._thread = threading.Thread(target=self._run, name="midtrans-sim-notifier", daemon=True)
        self._thread.start()

    def submit(self, urls: list[str], body: dict) -> threading.Event:
        """Queue one notification for each URL; the event is set once the first URL's delivery has finished."""
        done = threading.Event()
        with self._cond:
            self._seq += 1
            if not urls:
                self._record(self._seq, 1, None, body, None, "", "no notification URL configured")
                done.set()
                return done
            for i, url in enumerate(urls):
                self._pending += 1
                self._queue.put((self._generation, self._seq, url, body, done if i == 0 else None))
        return done

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            generation, seq, url, body, done = item
            try:
                if generation == self._generation:
                    self._deliver(generation, seq, url, body)
            finally:
                if done:
                    done.set()
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _deliver(self, generation: int, seq: int, url: str, body: dict) -> None:
        data = json.dumps(body).encode()
        for attempt in range(1, self.retries + 2):
            status, text, error = None, "", None
            request = urllib.request.Request(url, data=data, method="POST", headers={
                "Content-Type": "application/json", "Accept": "application/json", "User-Agent": "midtrans-simulator"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    status, text = resp.status, resp.read(2000).decode(errors="replace")
            except urllib.error.HTTPError as exc:
                status, text = exc.code, exc.read(2000).decode(errors="replace")
            except OSError as exc:
                error = str(exc)
            with self._cond:
                if generation != self._generation:
                    return
                self._record(seq, attempt, url, body, status, text, error)
            if status is not None and 200 <= status < 300:
                return
            if attempt <= self.retries:
                time.sleep(self.retry_delay * attempt)

    def _record(self, seq, attempt, url, body, status, text, error) -> None:
        self.log.append({"seq": seq, "attempt": attempt, "url": url, "order_id": body.get("order_id"),
                         "transaction_status": body.get("transaction_status"), "body": body, "status": status,
                         "response": text, "error": error, "at": datetime.now(timezone.utc).isoformat()})
        self._cond.notify_all()

    def entries(self, order_id: str | None = None) -> list[dict]:
        with self._cond:
            return [dict(e) for e in self.log if order_id is None or e["order_id"] == order_id]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued notification (and its retries) is done."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def wait_for(self, count: int, order_id: str | None = None, timeout: float = 5.0) -> list[dict]:
        """Block until at least `count` attempts (for `order_id`) are logged; return them (fewer on timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._matching(order_id)) >= count, timeout)
            return [dict(e) for e in self._matching(order_id)]

    def _matching(self, order_id):
        return [e for e in self.log if order_id is None or e["order_id"] == order_id]

    def clear(self) -> None:
        """Forget the log and drop everything still queued."""
        with self._cond:
            self._generation += 1
            self.log.clear()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=2)
