"""Every ErrorReason value of the wire contract maps to its exception."""

import unittest

import grpc

import mongogate
from mongogate import _status, errors
from mongogate._pb import common_pb2

from . import _env

# The status code that comes with each reason (common.proto's comments).
CODES = {
    "INVALID_ARGUMENT": grpc.StatusCode.INVALID_ARGUMENT,
    "FORBIDDEN_OPERATOR": grpc.StatusCode.INVALID_ARGUMENT,
    "SESSION_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "SESSION_EXPIRED": grpc.StatusCode.NOT_FOUND,
    "SESSION_CLIENT_MISMATCH": grpc.StatusCode.FAILED_PRECONDITION,
    "TRANSACTION_IN_PROGRESS": grpc.StatusCode.FAILED_PRECONDITION,
    "NO_TRANSACTION": grpc.StatusCode.FAILED_PRECONDITION,
    "TRANSACTIONS_NOT_SUPPORTED": grpc.StatusCode.FAILED_PRECONDITION,
    "TRANSACTION_ABORTED": grpc.StatusCode.ABORTED,
    "UNKNOWN_COMMIT_RESULT": grpc.StatusCode.UNAVAILABLE,
    "DUPLICATE_KEY": grpc.StatusCode.ALREADY_EXISTS,
    "SESSION_LIMIT": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "NAMESPACE_FORBIDDEN": grpc.StatusCode.PERMISSION_DENIED,
    "BACKEND_UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "SHUTTING_DOWN": grpc.StatusCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": grpc.StatusCode.DEADLINE_EXCEEDED,
    "MONGO_ERROR": grpc.StatusCode.UNKNOWN,
    "CANCELED": grpc.StatusCode.CANCELLED,
    "INTERNAL": grpc.StatusCode.INTERNAL,
    "SESSION_OWNER_GONE": grpc.StatusCode.NOT_FOUND,
    "RESULT_TOO_LARGE": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "CHANGE_STREAM_HISTORY_LOST": grpc.StatusCode.OUT_OF_RANGE,
    "WATCH_TOO_SLOW": grpc.StatusCode.UNAVAILABLE,
}


class FakeRpcError(grpc.RpcError):
    """What a failed call raises: code, details and trailing metadata."""

    def __init__(self, code, details, trailers=()):
        self._code, self._details, self._trailers = code, details, tuple(trailers)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailers


def fabricate(code, reason, metadata=None, retry_delay=None, domain="mongogate.dev"):
    data = _status.encode_status(code.value[0], "boom", reason, domain, metadata, retry_delay)
    return FakeRpcError(code, "boom", [("grpc-status-details-bin", data)])


def camel(reason):
    return "".join(w.capitalize() for w in reason.split("_"))


class ReasonMapping(unittest.TestCase):
    def test_every_reason_has_its_class(self):
        names = [n for n in common_pb2.ErrorReason.keys() if common_pb2.ErrorReason.Value(n) != 0]
        self.assertGreaterEqual(len(names), 22)
        self.assertEqual(errors.MADE_AT_IMPORT, [],
                         "ErrorReason values without a class written in mongogate/errors.py")
        for name in names:
            reason = name[len("ERROR_REASON_"):]
            with self.subTest(reason=reason):
                cls = getattr(mongogate, camel(reason))
                self.assertTrue(issubclass(cls, mongogate.MongogateError))
                self.assertEqual(cls.REASON, reason)
                self.assertIs(errors.BY_REASON[reason], cls)
                self.assertIn(reason, CODES, "add the reason's status code to CODES")
                err = errors.from_rpc_error(fabricate(CODES[reason], reason, {"k": "v"}))
                self.assertIs(type(err), cls)
                self.assertEqual(err.reason, reason)
                self.assertEqual(err.code, CODES[reason])
                self.assertEqual(err.metadata, {"k": "v"})
                self.assertEqual(err.message, "boom")
        # Every class the table names exists in the enum too.
        self.assertEqual(set(CODES), {n[len("ERROR_REASON_"):] for n in names})

    def test_details(self):
        err = errors.from_rpc_error(fabricate(
            grpc.StatusCode.ABORTED, "TRANSACTION_ABORTED",
            {"mongo_code": "112", "mongo_code_name": "WriteConflict",
             "labels": "TransientTransactionError", "operation_index": "2"}, retry_delay=0.25))
        self.assertIsInstance(err, mongogate.TransactionAborted)
        self.assertEqual(err.mongo_code, 112)
        self.assertEqual(err.mongo_code_name, "WriteConflict")
        self.assertEqual(err.labels, ("TransientTransactionError",))
        self.assertTrue(err.has_error_label("TransientTransactionError"))
        self.assertEqual(err.operation_index, 2)
        self.assertAlmostEqual(err.retry_delay, 0.25)
        self.assertTrue(err.retryable)
        self.assertTrue(errors.is_transient_transaction_error(err))
        self.assertIn("WriteConflict", str(err))

    def test_without_reason(self):
        # A status made by gRPC itself: no ErrorInfo.
        err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
        self.assertIsInstance(err, mongogate.DeadlineExceeded)
        self.assertIsInstance(err, TimeoutError)
        self.assertEqual(err.reason, "")
        err = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"))
        self.assertIs(type(err), mongogate.MongogateError)
        self.assertTrue(errors.is_unknown_commit_result(err))
        # Another domain's ErrorInfo is not ours.
        err = errors.from_rpc_error(fabricate(grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND", domain="example.com"))
        self.assertIs(type(err), mongogate.MongogateError)

    def test_commit_retry_rules(self):
        ucr = errors.from_rpc_error(fabricate(grpc.StatusCode.UNAVAILABLE, "UNKNOWN_COMMIT_RESULT"))
        self.assertTrue(errors.is_unknown_commit_result(ucr))
        labelled = errors.from_rpc_error(fabricate(grpc.StatusCode.UNKNOWN, "MONGO_ERROR",
                                                   {"labels": "UnknownTransactionCommitResult",
                                                    "mongo_code": "91"}))
        self.assertTrue(errors.is_unknown_commit_result(labelled))
        maxtime = errors.from_rpc_error(fabricate(grpc.StatusCode.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED",
                                                  {"labels": "UnknownTransactionCommitResult",
                                                   "mongo_code": "50"}))
        self.assertFalse(errors.is_unknown_commit_result(maxtime), "MaxTimeMSExpired is not retried")
        backend = errors.from_rpc_error(fabricate(grpc.StatusCode.UNAVAILABLE, "BACKEND_UNAVAILABLE"))
        self.assertFalse(errors.is_unknown_commit_result(backend))

    def test_pickle(self):
        import pickle
        err = errors.from_rpc_error(fabricate(grpc.StatusCode.ALREADY_EXISTS, "DUPLICATE_KEY", {"mongo_code": "11000"}))
        back = pickle.loads(pickle.dumps(err))
        self.assertIs(type(back), mongogate.DuplicateKey)
        self.assertEqual(back.mongo_code, 11000)


class FromServer(unittest.TestCase):
    """Errors the server really sends arrive as their classes."""

    def setUp(self):
        self.client = _env.client()
        self.addCleanup(self.client.close)
        self.coll = self.client[_env.dbname()]["c"]

    def test_duplicate_key(self):
        self.coll.insert_one({"_id": 1})
        with self.assertRaises(mongogate.DuplicateKey) as cm:
            self.coll.insert_one({"_id": 1})
        self.assertEqual(cm.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertEqual(cm.exception.mongo_code, 11000)

    def test_forbidden_operator(self):
        with self.assertRaises(mongogate.ForbiddenOperator) as cm:
            self.coll.find_one({"$where": "true"})
        self.assertEqual(cm.exception.metadata.get("operator"), "$where")

    def test_session_errors(self):
        s = self.client.start_session()
        with self.assertRaises(mongogate.NoTransaction):
            s.commit_transaction()
        s.start_transaction()
        with self.assertRaises(mongogate.TransactionInProgress):
            s.start_transaction()
        s.abort_transaction()
        token = s._token
        s.end_session()
        with self.assertRaises(mongogate.SessionEnded):
            self.coll.insert_one({}, session=s)
        # The server's answer for an ended token.
        from mongogate._pb import session_pb2
        with self.assertRaises(mongogate.SessionNotFound) as cm:
            self.client._unary(self.client._main, "sessions", "GetSession",
                               session_pb2.GetSessionRequest(session_token=token))
        self.assertEqual(cm.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_invalid_argument(self):
        with self.assertRaises(mongogate.InvalidArgument) as cm:
            self.client[""]["c"].insert_one({"a": 1})
        self.assertTrue(cm.exception.violations)


if __name__ == "__main__":
    unittest.main()
