"""A session's calls go to the instance that holds it when the client may
dial the instances, and through server-side forwarding otherwise.

Two instances share one backend; the client's target spreads calls over
both (gRPC round_robin), so without routing about half of a session's
calls land on the instance that does not hold it and are forwarded.
"""

import unittest

from mongogate import MongogateClient

from . import _env

FORWARDED = "mongogate_forwarded_calls_total"


class Routing(unittest.TestCase):
    def setUp(self):
        self.addrs = _env.need("MONGOGATE_INSTANCES").split(",")
        self.metrics = _env.need("MONGOGATE_METRICS").split(",")
        self.assertEqual(len(self.addrs), 2)
        self.target = "ipv4:" + ",".join(self.addrs)
        self.db = _env.dbname()

    def forwarded(self):
        return [_env.metric_sum(u, FORWARDED) for u in self.metrics]

    def client(self, **kw):
        c = MongogateClient(self.target, timeout=30, channel_options=[("grpc.lb_policy_name", "round_robin")], **kw)
        self.addCleanup(c.close)
        return c

    def sessions_on_both(self, client):
        """One session held by each instance (round_robin alternates the
        StartSession calls; a few tries cover a subchannel not ready yet)."""
        by_owner, extra = {}, []
        for _ in range(20):
            s = client.start_session()
            # Extras end later: an EndSession between two StartSessions
            # would send every StartSession to the same instance.
            (extra if s.instance_address in by_owner else by_owner.setdefault(s.instance_address, [])).append(s)
            if len(by_owner) == 2:
                break
        for s in extra:
            s.end_session()
        by_owner = {k: v[0] for k, v in by_owner.items()}
        self.assertEqual(set(by_owner), set(self.addrs), "sessions on both instances")
        return list(by_owner.values())

    def workload(self, client):
        """A dozen calls on a session held by each instance."""
        coll = client[self.db]["c"]
        coll.insert_one({"_id": "seed"})
        for i, s in enumerate(self.sessions_on_both(client)):
            with s:
                for j in range(3):
                    coll.insert_one({"s": i, "j": j}, session=s)
                self.assertEqual(coll.count_documents({"s": i}, session=s), 3)
                self.assertEqual(len(list(coll.find({"s": i}, session=s))), 3)
                s.with_transaction(lambda s: coll.update_many({"s": i}, {"$set": {"t": 1}}, session=s))
                s.describe()
        self.assertEqual(coll.count_documents({"t": 1}), 6)
        return coll

    def test_routed_to_owner(self):
        client = self.client(instances=self.addrs)
        before = self.forwarded()
        self.workload(client)
        with client.start_session() as s:
            self.assertTrue(s.routed)
        self.assertEqual(self.forwarded(), before, "no call was forwarded between instances")

    def test_forwarded_without_instances(self):
        client = self.client()
        before = self.forwarded()
        self.workload(client)
        with client.start_session() as s:
            self.assertFalse(s.routed)
        after = self.forwarded()
        self.assertGreater(sum(after) - sum(before), 0, "calls reached the other instance and were forwarded")

    def test_not_listed_is_forwarded(self):
        # Only the first instance may be dialed: sessions of the second go
        # through forwarding, and still work.
        client = self.client(instances=self.addrs[:1])
        for s in self.sessions_on_both(client):
            with s:
                self.assertEqual(s.routed, s.instance_address == self.addrs[0])
                client[self.db]["c"].insert_one({"a": s.instance_address}, session=s)
        self.assertEqual(client[self.db]["c"].count_documents({}), 2)

if __name__ == "__main__":
    unittest.main()
