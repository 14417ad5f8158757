"""ClientSession: a MongoDB session held by the server, and transactions."""

import enum
import random
import threading
import time
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from ._codec import transaction_options_of
from ._pb import session_pb2, transaction_pb2
from .errors import (MongogateError, OwnerGoneAborted, OwnerGoneUnknown, SessionEnded,
                     SessionExpired, SessionNotFound, SessionOwnerGone, TransactionAborted,
                     NoTransaction, is_transient_transaction_error, is_unknown_commit_result)

T = TypeVar("T")

#: How long with_transaction keeps retrying, as in the MongoDB drivers.
WITH_TRANSACTION_LIMIT = 120.0
#: Backoff between with_transaction's retries: jittered, 5 ms growing by
#: half each time up to 500 ms, as in the MongoDB drivers.
BACKOFF_INITIAL = 0.005
BACKOFF_MAX = 0.5

_SERVER_DEFAULT_IDLE_TIMEOUT = 300.0


class TransactionOutcome(enum.IntEnum):
    """Where a transaction stands (mongogate.v1.TransactionOutcome)."""
    NONE = 0  #: no transaction started
    IN_PROGRESS = 1
    COMMITTED = 2
    ABORTED = 3  #: none of its writes took effect
    UNKNOWN = 4  #: commit sent, result unknown: commit again, or ask later


class TransactionOptions:
    """Options of a transaction, as PyMongo's TransactionOptions, plus
    mongogate's record_outcome. Unset fields fall back to the session's
    default_transaction_options, then to the backend's."""

    __slots__ = ("read_concern", "write_concern", "read_preference", "max_commit_time_ms",
                 "record_outcome")

    def __init__(self, read_concern=None, write_concern=None, read_preference=None,
                 max_commit_time_ms=None, record_outcome=None):
        self.read_concern, self.write_concern = read_concern, write_concern
        self.read_preference, self.max_commit_time_ms = read_preference, max_commit_time_ms
        self.record_outcome = record_outcome

    def _kwargs(self):
        return {k: getattr(self, k) for k in self.__slots__}


class TransactionInfo(NamedTuple):
    number: int
    outcome: TransactionOutcome
    depth: int  #: nesting depth while in progress; 0 once ended
    started: Any  #: datetime (UTC)


class SessionInfo(NamedTuple):
    backend: str
    instance_id: str
    instance_address: str
    created: Any
    expire_time: Any
    absolute_expire_time: Any
    idle_timeout: float
    in_transaction: bool
    last_transaction: Optional[TransactionInfo]


class _Transaction:
    """What start_transaction returns: usable as a context manager that
    commits on normal exit and aborts on an exception, as in PyMongo."""

    def __init__(self, session: "ClientSession", number: int, depth: int):
        self._s, self.number, self.depth = session, number, depth

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self._s._still_open(self.number, self.depth):
            return False
        if exc_type is None:
            self._s.commit_transaction()
        else:
            try:
                self._s.abort_transaction()
            except MongogateError:
                pass
        return False


class ClientSession:
    """A session held by the server, named by a secret token only the
    ClientSession knows. Pass it as ``session=`` to collection methods to
    run them in it, and in its transaction if one is open; the server runs
    one operation of a session at a time and queues the others.

    The client keeps it alive (RefreshSession below its idle timeout) until
    it is ended. Always end it: ``with client.start_session() as s:`` does.
    """

    def __init__(self, client, pb_session: session_pb2.Session, stubs, keep_alive_interval):
        self._client = client
        self._stubs = stubs  # the owner's channel, or the client's main one
        self._token = pb_session.token
        self.backend = pb_session.client
        self.instance_id = pb_session.instance_id
        self.instance_address = pb_session.instance_address
        idle = pb_session.idle_timeout.ToNanoseconds() / 1e9 if pb_session.HasField("idle_timeout") else 0
        self.idle_timeout = idle if idle > 0 else _SERVER_DEFAULT_IDLE_TIMEOUT
        self._lock = threading.Lock()
        self._ended = False
        self._number = 0
        self._depth = 0
        self._kept = None
        interval = keep_alive_interval
        if interval is None:
            interval = self.idle_timeout / 3
        if interval > 0:
            self._kept = client._keeper.add(self, interval)

    # -- identity ---------------------------------------------------------

    @property
    def session_id(self) -> str:
        """Identifies the session in logs without revealing its token."""
        instance, _, secret = self._token.partition(".")
        return "%s.%s…" % (instance, secret[:4])

    def __repr__(self):
        return "ClientSession(%s, backend=%r)" % (self.session_id, self.backend)

    @property
    def client(self):
        return self._client

    @property
    def routed(self) -> bool:
        """Whether the session's calls go straight to its owner instance."""
        return self._stubs is not self._client._main

    @property
    def has_ended(self) -> bool:
        with self._lock:
            return self._ended

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open, as far as this object has seen."""
        with self._lock:
            return self._depth > 0

    @property
    def transaction_number(self) -> int:
        """The current or last transaction's number (0: none yet)."""
        with self._lock:
            return self._number

    def _check(self):
        if self._client._closed:
            from .errors import ClientClosed
            raise ClientClosed("client is closed")
        if self.has_ended:
            raise SessionEnded("session has ended")

    def _stubs_for(self, client):
        """The stubs a call of client in this session goes through, after
        checking that the session is client's and has not ended."""
        if self._client is not client:
            raise ValueError("the session was started by another client")
        if self.has_ended:
            raise SessionEnded("session has ended")
        return self._stubs

    def _call(self, service: str, method: str, req, timeout=None):
        return self._client._unary(self._stubs, service, method, req, timeout)

    # -- life -------------------------------------------------------------

    def end_session(self) -> None:
        """Ends the session, aborting an open transaction (never committing
        it), and stops its keep-alive. Idempotent; a session the server has
        already forgotten ends without error."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if self._kept is not None:
            self._client._keeper.remove(self._kept)
        self._client._forget(self)
        if self._client._closed_channels:
            return
        try:
            self._call("sessions", "EndSession", session_pb2.EndSessionRequest(session_token=self._token))
        except (SessionNotFound, SessionExpired):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.end_session()

    def refresh(self) -> None:
        """Keeps the session alive now (the keep-alive does it anyway)."""
        self._check()
        self._call("sessions", "RefreshSession", session_pb2.RefreshSessionRequest(session_token=self._token))

    def describe(self) -> SessionInfo:
        """The session as the server sees it, including its last
        transaction's outcome; does not count as activity."""
        self._check()
        ps = self._call("sessions", "GetSession", session_pb2.GetSessionRequest(session_token=self._token)).session
        lt = None
        if ps.HasField("last_transaction"):
            t = ps.last_transaction
            lt = TransactionInfo(t.transaction_number, TransactionOutcome(t.outcome), t.depth,
                                 t.start_time.ToDatetime())
        return SessionInfo(ps.client, ps.instance_id, ps.instance_address, ps.created_time.ToDatetime(),
                           ps.expire_time.ToDatetime(), ps.absolute_expire_time.ToDatetime(),
                           ps.idle_timeout.ToNanoseconds() / 1e9,
                           ps.state == session_pb2.SESSION_STATE_IN_TRANSACTION, lt)

    def transaction_outcome(self, number: int = 0) -> TransactionOutcome:
        """How transaction number (0: the current or last one) stands, from
        any instance: unlike describe it works after the instance holding
        the session is gone (SessionOwnerGone). A transaction that recorded
        its outcome (record_outcome) answers COMMITTED or ABORTED; UNKNOWN
        means not known yet (ask again in a few seconds) or never."""
        if number == 0:
            number = self.transaction_number
        # The client's own target, not the session's instance, which may
        # be the one that is gone.
        resp = self._client._unary(self._client._main, "txns", "GetTransactionOutcome",
                                   transaction_pb2.GetTransactionOutcomeRequest(
                                       session_token=self._token, transaction_number=number))
        return TransactionOutcome(resp.outcome)

    # -- transactions -----------------------------------------------------

    def start_transaction(self, read_concern=None, write_concern=None, read_preference=None,
                          max_commit_time_ms=None, record_outcome=None,
                          join_existing: bool = False) -> _Transaction:
        """Opens a transaction: operations given this session run in it
        until commit_transaction or abort_transaction. With join_existing
        an open transaction is joined one level deeper instead of failing
        with TransactionInProgress. Usable as ``with s.start_transaction():``,
        which commits on normal exit and aborts on an exception."""
        self._check()
        opts = transaction_options_of(self._client._codec, read_concern, write_concern,
                                      read_preference, max_commit_time_ms, record_outcome)
        req = transaction_pb2.StartTransactionRequest(session_token=self._token, join_existing=join_existing)
        if opts is not None:
            req.options.CopyFrom(opts)
        resp = self._call("txns", "StartTransaction", req)
        with self._lock:
            self._number, self._depth = resp.transaction_number, resp.depth
        return _Transaction(self, resp.transaction_number, resp.depth)

    def commit_transaction(self) -> None:
        """Commits the transaction, or closes one joined level of it. After
        UnknownCommitResult (or a lost answer) calling it again is safe: it
        names the same transaction, and a committed transaction commits
        again successfully."""
        self._check()
        n = self.transaction_number
        try:
            resp = self._call("txns", "CommitTransaction", transaction_pb2.CommitTransactionRequest(
                session_token=self._token, transaction_number=n))
        except (TransactionAborted, NoTransaction):
            self._transaction_ended(n)
            raise
        with self._lock:
            if self._number == n:
                self._depth = resp.depth

    def abort_transaction(self) -> None:
        """Aborts the transaction, at any depth; aborting an aborted
        transaction succeeds."""
        self._check()
        n = self.transaction_number
        try:
            self._call("txns", "AbortTransaction", transaction_pb2.AbortTransactionRequest(
                session_token=self._token, transaction_number=n))
        except NoTransaction:
            self._transaction_ended(n)
            raise
        self._transaction_ended(n)

    def _transaction_ended(self, n: int) -> None:
        with self._lock:
            if self._number == n:
                self._depth = 0

    def _position(self):
        with self._lock:
            return self._number, self._depth

    def _still_open(self, number: int, depth: int) -> bool:
        n, d = self._position()
        return n == number and d >= depth

    def _abort_quietly(self) -> None:
        try:
            self.abort_transaction()
        except MongogateError:
            pass

    def with_transaction(self, callback: Callable[["ClientSession"], T], read_concern=None,
                         write_concern=None, read_preference=None, max_commit_time_ms=None,
                         record_outcome=None, join_existing: bool = False) -> T:
        """Runs callback(session) in a transaction and commits it, with the
        retries of the MongoDB drivers' convenient transaction API:

        - if callback (or the commit) raises TransactionAborted, or an error
          labelled TransientTransactionError, the transaction is aborted and
          callback runs again in a new one;
        - if the commit raises UnknownCommitResult (or its answer is lost:
          UNAVAILABLE without a reason), the commit is sent again and
          callback is not rerun; a MaxTimeMSExpired commit is not retried;
        - if the instance holding the session dies during the commit
          (SessionOwnerGone), the transaction's recorded outcome decides:
          it returns when it committed, raises OwnerGoneAborted (a
          SessionOwnerGone and a TransactionAborted) when it did not, or
          OwnerGoneUnknown (also an UnknownCommitResult) when it recorded
          none;
        - retries stop after 120 s, raising the last error; between retries
          it waits a jittered 5 ms growing by half up to 500 ms.

        callback may run more than once, so it must have no effects outside
        the transaction that a rerun would repeat. Any other exception from
        callback aborts the transaction and propagates. If callback commits
        or aborts the transaction itself, its result is returned without a
        commit. Joining an open transaction (join_existing) commits only
        the joined level and never reruns callback.
        """
        start = time.monotonic()
        last: Optional[BaseException] = None
        attempt = 0
        while True:
            if attempt > 0:
                if not _sleep_backoff(attempt, start):
                    raise last  # type: ignore[misc]
            attempt += 1
            tx = self.start_transaction(read_concern, write_concern, read_preference,
                                        max_commit_time_ms, record_outcome, join_existing)
            number, depth = tx.number, tx.depth
            joined = depth > 1
            try:
                result = callback(self)
            except BaseException as err:
                if self._still_open(number, depth):
                    self._abort_quietly()
                if not joined and is_transient_transaction_error(err) and _retry_time(start):
                    last = err
                    continue
                raise
            if not self._still_open(number, depth):
                return result
            try:
                self._commit_loop(start)
            except MongogateError as err:
                if not joined and is_transient_transaction_error(err) and _retry_time(start):
                    last = err
                    continue
                raise
            return result

    def _commit_loop(self, start: float) -> None:
        """Commits, and commits again while the outcome is unknown. When
        the instance holding the session dies meanwhile, the transaction's
        recorded outcome decides."""
        last: Optional[MongogateError] = None
        attempt = 0
        while True:
            if attempt > 0 and not _sleep_backoff(attempt, start):
                raise last  # type: ignore[misc]
            attempt += 1
            try:
                self.commit_transaction()
                return
            except SessionOwnerGone as err:
                # A commit sent through another instance may have reached
                # the owner before it died.
                self._lost_owner_outcome(start, err)
                return
            except MongogateError as err:
                if not is_unknown_commit_result(err) or not _retry_time(start):
                    raise
                last = err

    def _lost_owner_outcome(self, start: float, gone: SessionOwnerGone) -> None:
        number = self.transaction_number
        attempt = 1
        while True:
            try:
                o = self.transaction_outcome(number)
            except MongogateError:
                o = None
            if o == TransactionOutcome.COMMITTED:
                self._transaction_ended(number)
                return
            if o == TransactionOutcome.ABORTED:
                self._transaction_ended(number)
                raise OwnerGoneAborted(gone.message, gone.code, gone.reason, gone.metadata) from gone
            if not _sleep_backoff(attempt, start):
                raise OwnerGoneUnknown(gone.message, gone.code, gone.reason, gone.metadata) from gone
            attempt += 1


def _retry_time(start: float) -> bool:
    return time.monotonic() - start < WITH_TRANSACTION_LIMIT


def backoff_ceiling(attempt: int) -> float:
    """The longest wait before retry attempt (from 1): 5 ms * 1.5^(attempt-1),
    at most 500 ms."""
    d = BACKOFF_INITIAL
    i = 1
    while i < attempt and d < BACKOFF_MAX:
        d += d / 2
        i += 1
    return min(d, BACKOFF_MAX)


def _sleep_backoff(attempt: int, start: float) -> bool:
    """Waits before retry attempt; False without waiting if the wait would
    end past the retry limit."""
    d = random.uniform(0, backoff_ceiling(attempt))
    if time.monotonic() - start + d >= WITH_TRANSACTION_LIMIT:
        return False
    time.sleep(d)
    return True
