"""Cursor: a lazy iterator over Find's and Aggregate's server stream."""

from typing import Any, Callable, List, Optional

import grpc

from ._codec import Codec
from .errors import from_rpc_error


class Cursor:
    """Iterates the documents of a Find or Aggregate as the server streams
    them, one batch (one response message) at a time: a batch is pulled
    from the stream only when the documents before it have been consumed,
    and each document is decoded only when it is reached, so a cursor never
    holds more than one batch. ``batches`` counts the batches pulled so far.

    With a session the session stays busy until the cursor is exhausted or
    closed; close it (or use it as a context manager) when stopping early.
    """

    def __init__(self, start: Callable[[], Any], codec: Codec,
                 fallback: Optional[Callable[[grpc.RpcError], Any]] = None):
        self._codec = codec
        self._fallback = fallback
        self._call = start()
        self._batch: List[Any] = []
        self._pos = 0
        self._done = False
        #: Batches (response messages) pulled from the stream so far.
        self.batches = 0

    def __iter__(self):
        return self

    def __next__(self) -> Any:
        while self._pos >= len(self._batch):
            if self._done:
                raise StopIteration
            self._pull()
        d = self._batch[self._pos]
        self._pos += 1
        return self._codec.decode(d)

    next = __next__

    def _pull(self) -> None:
        try:
            resp = next(self._call)
        except StopIteration:
            self._done = True
            self._batch, self._pos = [], 0
            return
        except grpc.RpcError as e:
            if self.batches == 0 and self._fallback is not None:
                call, self._fallback = self._fallback(e), None
                if call is not None:
                    self._call = call
                    return
            self._done = True
            self._batch, self._pos = [], 0
            raise from_rpc_error(e) from None
        self.batches += 1
        self._batch, self._pos = resp.documents, 0

    def to_list(self, length: Optional[int] = None) -> List[Any]:
        """The remaining documents (at most length) as a list."""
        out = []
        for d in self:
            out.append(d)
            if length is not None and len(out) >= length:
                break
        return out

    @property
    def alive(self) -> bool:
        """Whether more documents may come."""
        return not self._done or self._pos < len(self._batch)

    def close(self) -> None:
        """Stops the stream (the server closes its cursor) and frees the
        session for other operations. Idempotent."""
        if not self._done:
            self._done = True
            self._call.cancel()
        self._batch, self._pos = [], 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            if not self._done:
                self._call.cancel()
        except Exception:
            pass
