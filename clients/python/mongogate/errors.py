"""Exceptions of the mongogate client: one class per ErrorReason.

Every failed call raises a :class:`MongogateError`. Its class says the
reason (the name of a ``mongogate.v1.ErrorReason`` value without its
``ERROR_REASON_`` prefix, see common.proto): ``SESSION_NOT_FOUND`` raises
:class:`SessionNotFound`, ``DUPLICATE_KEY`` :class:`DuplicateKey`, and so
on; the class name is the reason in CamelCase. Catch the class, or branch
on ``.code`` and ``.reason``; never on the message text.

The classes are written out here so that programs and type checkers see
them; the tests check them against the generated ErrorReason enum, and a
reason added to the contract after this module was written still gets a
class (made at import time) rather than a bare MongogateError.
"""

from typing import Dict, Optional, Tuple, Type

import grpc

from . import _status
from ._pb import common_pb2

ERROR_DOMAIN = "mongogate.dev"

#: MongoDB's error labels that decide ClientSession.with_transaction's retries.
TRANSIENT_TRANSACTION_ERROR = "TransientTransactionError"
UNKNOWN_TRANSACTION_COMMIT_RESULT = "UnknownTransactionCommitResult"

#: MongoDB's MaxTimeMSExpired: a commit that ran out of its time is not
#: retried, as in the drivers' convenient transaction API.
MAX_TIME_MS_EXPIRED = 50

_REASON_PREFIX = "ERROR_REASON_"


class MongogateError(Exception):
    """A failed call: its gRPC status and what the status's details say.

    Attributes:
        code: the ``grpc.StatusCode``; None for errors the client makes
            itself (ClientClosed, SessionEnded).
        reason: the ErrorInfo reason, e.g. ``"SESSION_NOT_FOUND"``; ``""``
            when the status has none (an error made by gRPC itself, such as
            a client-side deadline or an unreachable server).
        message: the status message, for people.
        metadata: the ErrorInfo metadata (``mongo_code``,
            ``mongo_code_name``, ``labels``, reason-specific keys).
        labels: MongoDB's error labels, e.g. ``TransientTransactionError``.
        mongo_code, mongo_code_name: MongoDB's error code and its name when
            MongoDB produced the error, else None.
        retry_delay: the server's RetryInfo in seconds, or None.
        violations: the BadRequest (field, description) pairs of an
            INVALID_ARGUMENT.
    """

    #: The reason this class stands for; None for the base class.
    REASON: Optional[str] = None

    def __init__(self, message: str = "", code: Optional[grpc.StatusCode] = None,
                 reason: str = "", metadata: Optional[Dict[str, str]] = None,
                 retry_delay: Optional[float] = None,
                 violations: Tuple[Tuple[str, str], ...] = ()):
        self.code = code
        self.reason = reason or (self.REASON or "")
        self.message = message
        self.metadata = dict(metadata or {})
        self.retry_delay = retry_delay
        self.violations = tuple(violations)
        labels = self.metadata.get("labels", "")
        self.labels = tuple(x for x in labels.split(",") if x)
        try:
            self.mongo_code: Optional[int] = int(self.metadata["mongo_code"])
        except (KeyError, ValueError):
            self.mongo_code = None
        self.mongo_code_name = self.metadata.get("mongo_code_name") or None
        super().__init__(str(self))

    def __str__(self) -> str:
        what = self.reason or (self.code.name if self.code is not None else "")
        s = "mongogate: " + what if what else "mongogate"
        if self.mongo_code is not None:
            s += " (MongoDB %d%s)" % (self.mongo_code, " " + self.mongo_code_name if self.mongo_code_name else "")
        if self.message:
            s += ": " + self.message
        return s

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.code, self.reason, self.metadata,
                           self.retry_delay, self.violations))

    def has_error_label(self, label: str) -> bool:
        """Whether MongoDB attached the label to the error."""
        return label in self.labels

    @property
    def operation_index(self) -> Optional[int]:
        """Which operation of run_transaction failed (from 0), or None."""
        try:
            n = int(self.metadata["operation_index"])
        except (KeyError, ValueError):
            return None
        return n if n >= 0 else None

    @property
    def retryable(self) -> bool:
        """Whether trying again may succeed: the server sent a RetryInfo, or
        the error is one ClientSession.with_transaction retries (a transient
        transaction error, an unknown commit result)."""
        return (self.retry_delay is not None or is_transient_transaction_error(self)
                or is_unknown_commit_result(self))


def _rebuild(cls, message, code, reason, metadata, retry_delay, violations):
    return cls(message, code, reason, metadata, retry_delay, violations)


# One class per ErrorReason value; the docstring starts with the status
# code that comes with the reason.

class InvalidArgument(MongogateError, ValueError):
    """INVALID_ARGUMENT: bad document, missing namespace, bad option;
    ``violations`` names the fields."""
    REASON = "INVALID_ARGUMENT"


class ForbiddenOperator(MongogateError, ValueError):
    """INVALID_ARGUMENT: $where, $function or $accumulator in a request;
    metadata "operator" names it."""
    REASON = "FORBIDDEN_OPERATOR"


class SessionNotFound(MongogateError):
    """NOT_FOUND: the session token is unknown, ended, or another
    principal's."""
    REASON = "SESSION_NOT_FOUND"


class SessionExpired(MongogateError):
    """NOT_FOUND: the session outlived its idle timeout or lifetime."""
    REASON = "SESSION_EXPIRED"


class SessionClientMismatch(MongogateError):
    """FAILED_PRECONDITION: the session is bound to another backend."""
    REASON = "SESSION_CLIENT_MISMATCH"


class TransactionInProgress(MongogateError):
    """FAILED_PRECONDITION: a transaction is open (start without
    join_existing), or the last commit's outcome is still unknown."""
    REASON = "TRANSACTION_IN_PROGRESS"


class NoTransaction(MongogateError):
    """FAILED_PRECONDITION: commit or abort with no transaction open."""
    REASON = "NO_TRANSACTION"


class TransactionsNotSupported(MongogateError):
    """FAILED_PRECONDITION: the backend cannot run transactions (a
    standalone server, or a snapshot session)."""
    REASON = "TRANSACTIONS_NOT_SUPPORTED"


class TransactionAborted(MongogateError):
    """ABORTED: write conflict, transient error, expiry; running the
    transaction again from its start may succeed (with_transaction does)."""
    REASON = "TRANSACTION_ABORTED"


class UnknownCommitResult(MongogateError):
    """UNAVAILABLE: the commit outcome is unknown after the server's
    retries; committing again is safe (with_transaction does)."""
    REASON = "UNKNOWN_COMMIT_RESULT"


class DuplicateKey(MongogateError):
    """ALREADY_EXISTS: a write violated a unique index."""
    REASON = "DUPLICATE_KEY"


class SessionLimit(MongogateError):
    """RESOURCE_EXHAUSTED: too many sessions, in total or for the
    principal."""
    REASON = "SESSION_LIMIT"


class Unauthenticated(MongogateError):
    """UNAUTHENTICATED: no or bad credentials."""
    REASON = "UNAUTHENTICATED"


class NamespaceForbidden(MongogateError):
    """PERMISSION_DENIED: the principal may not use the namespace."""
    REASON = "NAMESPACE_FORBIDDEN"


class BackendUnavailable(MongogateError):
    """UNAVAILABLE: MongoDB is unreachable or has no primary."""
    REASON = "BACKEND_UNAVAILABLE"


class ShuttingDown(MongogateError):
    """UNAVAILABLE: the server is draining; retry on another instance."""
    REASON = "SHUTTING_DOWN"


class DeadlineExceeded(MongogateError, TimeoutError):
    """DEADLINE_EXCEEDED: max_time_ms or the call's timeout passed, on the
    server or in the client."""
    REASON = "DEADLINE_EXCEEDED"


class MongoError(MongogateError):
    """Any other MongoDB error; see mongo_code and mongo_code_name."""
    REASON = "MONGO_ERROR"


class Canceled(MongogateError):
    """CANCELLED: the call was cancelled."""
    REASON = "CANCELED"


class Internal(MongogateError):
    """INTERNAL: a bug in mongogate; the details are in its logs."""
    REASON = "INTERNAL"


class SessionOwnerGone(MongogateError):
    """NOT_FOUND: the server instance that held the session is gone, and
    the session with it. ClientSession.transaction_outcome tells how a
    transaction that was committing ended. Start a new session."""
    REASON = "SESSION_OWNER_GONE"


class ResultTooLarge(MongogateError):
    """RESOURCE_EXHAUSTED: a Find or Aggregate over REST matched more than
    one answer holds. This client streams over gRPC and never meets it."""
    REASON = "RESULT_TOO_LARGE"


class ChangeStreamHistoryLost(MongogateError):
    """OUT_OF_RANGE: a watch's resume token points before what the backend
    still keeps of its history; resuming cannot work. This client does not
    watch yet; it is here so that every reason has its class."""
    REASON = "CHANGE_STREAM_HISTORY_LOST"


class WatchTooSlow(MongogateError):
    """UNAVAILABLE: a watch read too slowly and was cut; metadata
    "resume_token" says where to resume. This client does not watch yet;
    it is here so that every reason has its class."""
    REASON = "WATCH_TOO_SLOW"


# Errors of the client itself, never sent by the server.

class ClientClosed(MongogateError):
    """The MongogateClient was closed."""


class SessionEnded(MongogateError):
    """The ClientSession was ended and cannot be used any more."""


class OwnerGoneAborted(SessionOwnerGone, TransactionAborted):
    """with_transaction: the instance holding the session died while
    committing, and the transaction is known not to have committed."""
    REASON = "SESSION_OWNER_GONE"


class OwnerGoneUnknown(SessionOwnerGone, UnknownCommitResult):
    """with_transaction: the instance holding the session died while
    committing, and how the transaction ended could not be learnt (it
    recorded no outcome, or the retry time ran out)."""
    REASON = "SESSION_OWNER_GONE"


def _camel(reason: str) -> str:
    return "".join(w.capitalize() for w in reason.split("_"))


def reason_of(value_name: str) -> str:
    """The wire reason of an ErrorReason value name:
    ERROR_REASON_SESSION_NOT_FOUND -> SESSION_NOT_FOUND."""
    return value_name[len(_REASON_PREFIX):] if value_name.startswith(_REASON_PREFIX) else value_name


#: reason -> class, for every ErrorReason value of the generated enum.
BY_REASON: Dict[str, Type[MongogateError]] = {}
#: Reasons of the enum that had no class written above (the tests require
#: this to be empty).
MADE_AT_IMPORT = []

for _name in common_pb2.ErrorReason.keys():
    if common_pb2.ErrorReason.Value(_name) == 0:
        continue
    _reason = reason_of(_name)
    _cls = globals().get(_camel(_reason))
    if not (isinstance(_cls, type) and issubclass(_cls, MongogateError) and _cls.REASON == _reason):
        _cls = type(_camel(_reason), (MongogateError,), {"REASON": _reason, "__module__": __name__})
        globals()[_cls.__name__] = _cls
        MADE_AT_IMPORT.append(_reason)
    BY_REASON[_reason] = _cls

# A status without a mongogate ErrorInfo (made by gRPC itself) still gets
# a class for these codes.
_BY_CODE = {
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Canceled,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def from_rpc_error(err: grpc.RpcError) -> MongogateError:
    """Converts a grpc.RpcError (a failed call) to its MongogateError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    details = None
    trailers = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == _status.STATUS_DETAILS_KEY:
            try:
                details = _status.parse_status(value)
            except ValueError:
                details = None
            break
    return from_status(code, message or "", details)


def from_status(code: grpc.StatusCode, message: str,
                details: Optional[_status.ErrorDetails]) -> MongogateError:
    reason, metadata, retry, violations = "", {}, None, ()
    if details is not None:
        retry, violations = details.retry_delay, details.violations
        if details.domain == ERROR_DOMAIN and details.reason:
            reason, metadata = details.reason, details.metadata
    if reason:
        cls = BY_REASON.get(reason, MongogateError)
    else:
        cls = _BY_CODE.get(code, MongogateError)
    err = cls(message, code, reason, metadata, retry, violations)
    if not reason:
        err.reason = ""  # keep "no reason" visible even for _BY_CODE classes
    return err


def is_transient_transaction_error(err: BaseException) -> bool:
    """Whether rerunning a transaction from its start may succeed."""
    if not isinstance(err, MongogateError):
        return False
    return ((err.code == grpc.StatusCode.ABORTED and err.reason == TransactionAborted.REASON)
            or err.has_error_label(TRANSIENT_TRANSACTION_ERROR))


def is_unknown_commit_result(err: BaseException) -> bool:
    """Whether a commit that failed with err may have committed, so that
    committing again is how to learn it. A status without a reason came
    from gRPC: the server may have received the commit and lost the
    answer. A MaxTimeMSExpired commit is not retried."""
    if not isinstance(err, MongogateError) or err.code is None:
        return False
    if err.mongo_code == MAX_TIME_MS_EXPIRED:
        return False
    if err.has_error_label(UNKNOWN_TRANSACTION_COMMIT_RESULT):
        return True
    return err.code == grpc.StatusCode.UNAVAILABLE and err.reason in (UnknownCommitResult.REASON, "")


__all__ = ["MongogateError", "ClientClosed", "SessionEnded", "OwnerGoneAborted", "OwnerGoneUnknown",
           "BY_REASON", "from_rpc_error", "is_transient_transaction_error",
           "is_unknown_commit_result", "TRANSIENT_TRANSACTION_ERROR",
           "UNKNOWN_TRANSACTION_COMMIT_RESULT"] + [c.__name__ for c in BY_REASON.values()]
