"""Transactions: with_transaction's retries, run_transaction, outcomes."""

import threading
import time
import unittest

import mongogate
from mongogate import TransactionOutcome
from mongogate.session import backoff_ceiling

from . import _env


class Recorder:
    """Counts a session's commit_transaction calls and their errors."""

    def __init__(self, session):
        self.calls, self.errors = 0, []
        orig = session.commit_transaction

        def commit():
            self.calls += 1
            try:
                return orig()
            except Exception as e:
                self.errors.append(e)
                raise
        session.commit_transaction = commit


class Transactions(unittest.TestCase):
    def setUp(self):
        self.client = _env.client()
        self.addCleanup(self.client.close)
        self.coll = self.client[_env.dbname()]["c"]
        # Create the collection outside any transaction.
        self.coll.insert_one({"_id": "acct", "a": 0, "b": 0})

    def test_write_conflict_retries_and_commits_once(self):
        a = self.client.start_session()
        b = self.client.start_session()
        self.addCleanup(a.end_session)
        self.addCleanup(b.end_session)
        rec = Recorder(a)
        attempts, seen = [], []

        def callback(s):
            attempts.append(s.transaction_number)
            if len(attempts) == 1:
                # Another session writes the document first, in its own
                # transaction: this one's write conflicts with it.
                b.start_transaction()
                self.coll.update_one({"_id": "acct"}, {"$inc": {"b": 1}}, session=b)
                try:
                    self.coll.update_one({"_id": "acct"}, {"$inc": {"a": 1}}, session=s)
                except mongogate.MongogateError as e:
                    seen.append(e)
                    b.commit_transaction()
                    raise
                self.fail("no write conflict")
            self.coll.update_one({"_id": "acct"}, {"$inc": {"a": 1}}, session=s)
            return "paid"

        self.assertEqual(a.with_transaction(callback), "paid")
        self.assertEqual(len(attempts), 2, "the callback ran twice")
        self.assertEqual(len(set(attempts)), 2, "each run in a transaction of its own")
        self.assertIsInstance(seen[0], mongogate.TransactionAborted)
        self.assertTrue(seen[0].has_error_label("TransientTransactionError") or seen[0].reason == "TRANSACTION_ABORTED")
        self.assertEqual(rec.calls, 1, "one commit")
        self.assertEqual(self.coll.find_one({"_id": "acct"}), {"_id": "acct", "a": 1, "b": 1},
                         "each session's increment applied exactly once")
        self.assertFalse(a.in_transaction)
        self.assertEqual(a.transaction_outcome(), TransactionOutcome.COMMITTED)

    def _fail_point(self, mode, data):
        direct = _env.direct_backend()
        self.addCleanup(direct.close)
        admin = direct.admin
        admin.command({"configureFailPoint": "failCommand", "mode": mode, "data": data})
        self.addCleanup(admin.command, {"configureFailPoint": "failCommand", "mode": "off"})
        return admin

    def test_unknown_commit_result_recommits(self):
        # The connection closes on every commitTransaction for a second:
        # the server's own commit retries (limited by test/pyclient to
        # 300 ms) give up with UNKNOWN_COMMIT_RESULT, and with_transaction
        # commits again until the fail point is off.
        s = self.client.start_session()
        self.addCleanup(s.end_session)
        rec = Recorder(s)
        admin = self._fail_point("alwaysOn", {"failCommands": ["commitTransaction"], "closeConnection": True})
        off = threading.Timer(1.0, admin.command, args=({"configureFailPoint": "failCommand", "mode": "off"},))
        off.start()
        self.addCleanup(off.cancel)
        runs = []

        def callback(s):
            runs.append(1)
            self.coll.insert_one({"_id": "x"}, session=s)
            return "done"

        self.assertEqual(s.with_transaction(callback), "done")
        off.join()
        self.assertEqual(len(runs), 1, "the callback is not rerun for an unknown commit result")
        self.assertGreaterEqual(rec.calls, 2)
        self.assertTrue(any(isinstance(e, mongogate.UnknownCommitResult) for e in rec.errors), rec.errors)
        self.assertEqual(self.coll.count_documents({"_id": "x"}), 1, "committed once")
        self.assertEqual(s.describe().last_transaction.outcome, TransactionOutcome.COMMITTED)

    def test_unknown_commit_result_times_two(self):
        # closeConnection twice on commitTransaction: the commit is retried
        # (here by the server, within its retry limit) and commits once.
        s = self.client.start_session()
        self.addCleanup(s.end_session)
        rec = Recorder(s)
        self._fail_point({"times": 2}, {"failCommands": ["commitTransaction"], "closeConnection": True})
        s.with_transaction(lambda s: self.coll.insert_one({"_id": "y"}, session=s))
        self.assertGreaterEqual(rec.calls, 1)
        self.assertEqual(self.coll.count_documents({"_id": "y"}), 1)
        self.assertEqual(s.transaction_outcome(), TransactionOutcome.COMMITTED)

    def test_write_concern_error_on_commit(self):
        # A writeConcernError 64 (WriteConcernFailed) on commit is an
        # unknown commit result; the retried commit succeeds.
        s = self.client.start_session()
        self.addCleanup(s.end_session)
        self._fail_point({"times": 1}, {"failCommands": ["commitTransaction"],
                                        "writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"}})
        s.with_transaction(lambda s: self.coll.insert_one({"_id": "w"}, session=s))
        self.assertEqual(self.coll.count_documents({"_id": "w"}), 1)

    def test_callback_error_aborts(self):
        s = self.client.start_session()
        self.addCleanup(s.end_session)

        class Insufficient(Exception):
            pass

        def callback(s):
            self.coll.insert_one({"_id": "partial"}, session=s)
            raise Insufficient()

        with self.assertRaises(Insufficient):
            s.with_transaction(callback)
        self.assertFalse(s.in_transaction)
        self.assertIsNone(self.coll.find_one({"_id": "partial"}))

        # Duplicate key is not transient: no rerun.
        runs = []

        def dup(s):
            runs.append(1)
            self.coll.insert_one({"_id": "acct"}, session=s)

        with self.assertRaises(mongogate.DuplicateKey):
            s.with_transaction(dup)
        self.assertEqual(len(runs), 1)

    def test_owner_gone_during_commit(self):
        # The instance holding the session dies while committing: the
        # recorded outcome decides (GetTransactionOutcome on any instance).
        for outcome, want in ((TransactionOutcome.COMMITTED, None),
                              (TransactionOutcome.ABORTED, mongogate.OwnerGoneAborted)):
            with self.subTest(outcome=outcome.name):
                s = self.client.start_session()
                self.addCleanup(s.end_session)
                asked = []

                def commit():
                    raise mongogate.SessionOwnerGone("instance gone", reason="SESSION_OWNER_GONE")

                def ask(n=0, outcome=outcome):
                    asked.append(n)
                    return TransactionOutcome.UNKNOWN if len(asked) == 1 else outcome
                s.commit_transaction = commit
                s.transaction_outcome = ask
                runs = []

                def callback(s):
                    runs.append(1)
                    return "r"
                if want is None:
                    self.assertEqual(s.with_transaction(callback), "r")
                else:
                    with self.assertRaises(want) as cm:
                        s.with_transaction(callback)
                    self.assertIsInstance(cm.exception, mongogate.TransactionAborted)
                    self.assertIsInstance(cm.exception, mongogate.SessionOwnerGone)
                self.assertEqual(len(runs), 1, "never rerun")
                self.assertEqual(len(asked), 2, "asked again while UNKNOWN")
                self.assertEqual(asked[0], s.transaction_number)
                self.assertFalse(s.in_transaction)
                del s.commit_transaction
                s.abort_transaction()

    def test_transaction_context_and_join(self):
        s = self.client.start_session()
        self.addCleanup(s.end_session)
        with s.start_transaction():
            self.coll.insert_one({"_id": 1}, session=s)
            self.assertIsNone(self.coll.find_one({"_id": 1}), "not visible outside before commit")
            with s.start_transaction(join_existing=True) as inner:
                self.assertEqual(inner.depth, 2)
                self.coll.insert_one({"_id": 2}, session=s)
        self.assertEqual(self.coll.count_documents({"_id": {"$in": [1, 2]}}), 2)
        with self.assertRaises(RuntimeError):
            with s.start_transaction():
                self.coll.insert_one({"_id": 3}, session=s)
                raise RuntimeError()
        self.assertIsNone(self.coll.find_one({"_id": 3}))
        self.assertEqual(s.transaction_outcome(), TransactionOutcome.ABORTED)

    def test_run_transaction(self):
        c = self.coll
        r = self.client.run_transaction([
            c.insert_one_op({"_id": "r1", "v": 1}),
            c.update_one_op({"_id": "acct"}, {"$inc": {"a": 5}}),
            c.find_one_op({"_id": "r1"}),
            c.count_documents_op({}),
            c.distinct_op("v"),
            c.find_one_and_update_op({"_id": "r1"}, {"$set": {"v": 2}}, return_document=True),
        ])
        self.assertEqual(r.attempts, 1)
        self.assertEqual(r.results[0].inserted_id, "r1")
        self.assertEqual(r.results[1].modified_count, 1)
        self.assertEqual(r.results[2], {"_id": "r1", "v": 1})
        self.assertEqual(r.results[3], 2)
        self.assertEqual(r.results[4], [1])
        self.assertEqual(r.results[5]["v"], 2)
        with self.assertRaises(mongogate.DuplicateKey) as cm:
            self.client.run_transaction([c.insert_one_op({"_id": "r2"}), c.insert_one_op({"_id": "r1"})])
        self.assertEqual(cm.exception.operation_index, 1)
        self.assertIsNone(c.find_one({"_id": "r2"}), "nothing written")
        with self.client.start_session() as s:
            r = self.client.run_transaction([c.delete_one_op({"_id": "r1"})], session=s)
            self.assertEqual(s.transaction_outcome(r.transaction_number), TransactionOutcome.COMMITTED)

    def test_backoff(self):
        self.assertAlmostEqual(backoff_ceiling(1), 0.005)
        self.assertAlmostEqual(backoff_ceiling(2), 0.0075)
        self.assertAlmostEqual(backoff_ceiling(30), 0.5)


class KeepAlive(unittest.TestCase):
    def test_refreshes_below_idle_timeout(self):
        client = _env.client()
        self.addCleanup(client.close)
        coll = client[_env.dbname()]["c"]
        kept = client.start_session(idle_timeout=1.0)
        lapsed = client.start_session(idle_timeout=1.0, keep_alive_interval=0)
        self.addCleanup(kept.end_session)
        time.sleep(2.5)
        coll.insert_one({"k": 1}, session=kept)
        with self.assertRaises((mongogate.SessionExpired, mongogate.SessionNotFound)):
            coll.insert_one({"k": 2}, session=lapsed)
        self.assertEqual(coll.count_documents({}), 1)
        client.close()
        self.assertTrue(kept.has_ended, "close ends the sessions")
        with self.assertRaises(mongogate.ClientClosed):
            coll.insert_one({})


if __name__ == "__main__":
    unittest.main()
