"""The sessions' keep-alive: one background thread per client."""

import heapq
import itertools
import threading
import time


class _Entry:
    __slots__ = ("due", "seq", "session", "interval", "alive")

    def __init__(self, due, seq, session, interval):
        self.due, self.seq, self.session, self.interval, self.alive = due, seq, session, interval, True

    def __lt__(self, other):
        return (self.due, self.seq) < (other.due, other.seq)


class Keeper:
    """Refreshes each session at its interval from one daemon thread
    (started with the first session) and a heap of when each is due: a
    session costs an entry, not a thread. A refresh is bounded by the
    session's interval (at most 10 s), so a slow one delays the others
    little. A session the server has forgotten is dropped; a transient
    failure is retried at the next interval."""

    def __init__(self, refresh):
        self._refresh = refresh  # refresh(session, timeout) -> keep (bool)
        self._cv = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._thread = None
        self._stopped = False

    def add(self, session, interval: float) -> _Entry:
        e = _Entry(time.monotonic() + interval, next(self._seq), session, interval)
        with self._cv:
            if self._stopped:
                e.alive = False
                return e
            heapq.heappush(self._heap, e)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mongogate-keepalive", daemon=True)
                self._thread.start()
            self._cv.notify()
        return e

    def remove(self, e: _Entry) -> None:
        with self._cv:
            e.alive = False

    def close(self, timeout: float = 10.0) -> None:
        with self._cv:
            self._stopped = True
            self._heap.clear()
            self._cv.notify()
            t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    if self._stopped:
                        return
                    if not self._heap:
                        self._cv.wait()
                        continue
                    e = self._heap[0]
                    if not e.alive:
                        heapq.heappop(self._heap)
                        continue
                    delay = e.due - time.monotonic()
                    if delay > 0:
                        self._cv.wait(delay)
                        continue
                    heapq.heappop(self._heap)
                    break
            keep = True
            try:
                keep = self._refresh(e.session, max(1.0, min(e.interval, 10.0)))
            except Exception:
                keep = True
            with self._cv:
                if keep and e.alive and not self._stopped:
                    e.due = time.monotonic() + e.interval
                    heapq.heappush(self._heap, e)
