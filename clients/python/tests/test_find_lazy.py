"""find() reads the server's stream lazily, batch by batch."""

import gc
import tracemalloc
import unittest

from . import _env

N = 10_000
BATCH = 100


class LazyFind(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.client = _env.client()
        cls.coll = cls.client[_env.dbname()]["big"]
        pad = "x" * 200
        for start in range(0, N, 1000):
            cls.coll.insert_many([{"_id": i, "pad": pad} for i in range(start, start + 1000)])

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_batches_pulled_follow_documents_consumed(self):
        cur = self.coll.find({}, sort="_id", batch_size=BATCH)
        self.assertEqual(cur.batches, 0, "nothing pulled before the first document is asked for")
        seen = []
        for doc in cur:
            seen.append(doc["_id"])
            # Never more than the batch holding the current document.
            self.assertEqual(cur.batches, len(seen) // BATCH + (1 if len(seen) % BATCH else 0))
            if len(seen) == 150:
                break
        self.assertEqual(cur.batches, 2, "150 documents consumed, 2 batches of %d pulled" % BATCH)
        cur.close()
        self.assertFalse(cur.alive)

        cur = self.coll.find({}, sort="_id", batch_size=BATCH)
        n = sum(1 for _ in cur)
        self.assertEqual(n, N)
        self.assertEqual(cur.batches, N // BATCH)

    def test_memory_bounded(self):
        # Holding every document would take about N times one document;
        # streaming them keeps a batch at a time.
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            cur = self.coll.find({}, batch_size=BATCH)
            count = 0
            for _ in cur:
                count += 1
            stream_peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            everything = self.coll.find({}, batch_size=BATCH).to_list()
            all_peak = tracemalloc.get_traced_memory()[1] - base
            del everything
        finally:
            tracemalloc.stop()
        self.assertEqual(count, N)
        self.assertLess(stream_peak * 10, all_peak,
                        "streaming peaked at %d bytes, holding all at %d" % (stream_peak, all_peak))


if __name__ == "__main__":
    unittest.main()
