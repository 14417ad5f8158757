"""CRUD through the client, and BSON types that survive exactly."""

import datetime
import re
import unittest
import uuid

from bson import Binary, Code, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.son import SON

import mongogate
from mongogate import (DeleteMany, DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateMany,
                       UpdateOne)

from . import _env


class Crud(unittest.TestCase):
    def setUp(self):
        self.client = _env.client()
        self.addCleanup(self.client.close)
        self.coll = self.client[_env.dbname()]["c"]

    def test_types_round_trip(self):
        oid = ObjectId()
        doc = {
            "_id": oid,
            "int32": 7,
            "int64": Int64(7),
            "big": Int64(2 ** 40),  # a Python int beyond int32 is sent as int64 too
            "double": 7.0,
            "dec": Decimal128("1234.5670"),
            "when": datetime.datetime(2024, 2, 29, 23, 59, 58, 123000),
            "bin": Binary(b"\x00\xffraw", 5),
            "bytes": b"\x01\x02",
            "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "ts": Timestamp(1700000000, 3),
            "re": Regex("^a.c$", "i"),
            "code": Code("function() {}"),
            "min": MinKey(),
            "max": MaxKey(),
            "none": None,
            "bool": True,
            "text": "grüße ✓",
            "ordered": SON([("z", 1), ("a", 2), ("m", {"y": 1, "b": 2})]),
            "list": [1, Int64(2), "three", {"four": 4.0}],
        }
        self.coll.insert_one(doc)
        got = self.coll.find_one({"_id": oid})
        self.assertEqual(list(got), list(doc), "top-level key order")
        for k, want in doc.items():
            with self.subTest(field=k):
                v = got[k]
                if k == "uuid":
                    self.assertEqual(v, want)
                    continue
                if isinstance(want, SON):
                    want = dict(want)
                self.assertEqual(v, want)
                if k == "re":
                    self.assertIsInstance(v, Regex)
                    self.assertEqual((v.pattern, v.flags), (want.pattern, want.flags))
                    continue
                self.assertIs(type(v), type(want), "type of %s" % k)
        self.assertEqual(list(got["ordered"]), ["z", "a", "m"])
        self.assertEqual(list(got["ordered"]["m"]), ["y", "b"])
        self.assertIs(type(got["list"][1]), Int64)
        self.assertIs(type(got["list"][0]), int)
        # The same through a stream, a distinct and an upserted _id.
        self.assertEqual(next(self.coll.find({"_id": oid})), got)
        self.assertEqual(self.coll.distinct("dec"), [Decimal128("1234.5670")])
        r = self.coll.update_one({"_id": Decimal128("9.90")}, {"$set": {"x": 1}}, upsert=True)
        self.assertEqual(r.upserted_id, Decimal128("9.90"))
        self.assertIs(type(r.upserted_id), Decimal128)

    def test_operations(self):
        c = self.coll
        doc = {"name": "a", "n": 1}
        r = c.insert_one(doc)
        self.assertIsInstance(r.inserted_id, ObjectId)
        self.assertEqual(doc["_id"], r.inserted_id, "an _id is added to the document, as PyMongo does")
        r = c.insert_many([{"name": "b", "n": 2}, {"name": "c", "n": 3}, {"_id": "d", "name": "d", "n": 4}])
        self.assertEqual(len(r.inserted_ids), 3)
        self.assertEqual(r.inserted_ids[2], "d")
        self.assertEqual(c.find_one("d")["name"], "d")
        self.assertIsNone(c.find_one({"name": "zz"}))
        self.assertEqual(c.find_one({}, sort=[("n", mongogate.DESCENDING)])["n"], 4)
        self.assertEqual(c.find_one({"n": 1}, projection={"_id": 0, "name": 1}), {"name": "a"})
        self.assertEqual([d["n"] for d in c.find({}, sort="n", skip=1, limit=2)], [2, 3])
        self.assertEqual(c.count_documents({"n": {"$gte": 2}}), 3)
        self.assertEqual(sorted(c.distinct("name")), ["a", "b", "c", "d"])

        r = c.update_one({"n": 1}, {"$set": {"tag": "x"}})
        self.assertEqual((r.matched_count, r.modified_count, r.upserted_id), (1, 1, None))
        r = c.update_many({"n": {"$gte": 2}}, {"$inc": {"n": 10}})
        self.assertEqual(r.modified_count, 3)
        r = c.update_one({"n": 12}, [{"$set": {"twice": {"$multiply": ["$n", 2]}}}])
        self.assertEqual(c.find_one({"n": 12})["twice"], 24)
        r = c.replace_one({"name": "a"}, {"name": "a2", "n": 1})
        self.assertEqual(r.modified_count, 1)
        r = c.replace_one({"name": "new"}, {"name": "new", "n": 0}, upsert=True)
        self.assertIsNotNone(r.upserted_id)

        before = c.find_one_and_update({"name": "a2"}, {"$inc": {"n": 1}})
        self.assertEqual(before["n"], 1)
        after = c.find_one_and_update({"name": "a2"}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER)
        self.assertEqual(after["n"], 3)
        rep = c.find_one_and_replace({"name": "a2"}, {"name": "a3", "n": 3}, return_document=ReturnDocument.AFTER)
        self.assertEqual(rep["name"], "a3")
        gone = c.find_one_and_delete({"name": "a3"})
        self.assertEqual(gone["name"], "a3")
        self.assertIsNone(c.find_one_and_delete({"name": "a3"}))

        agg = list(c.aggregate([{"$match": {"n": {"$gte": 10}}}, {"$group": {"_id": None, "s": {"$sum": "$n"}}}]))
        self.assertEqual(agg[0]["s"], 12 + 13 + 14)

        self.assertEqual(c.delete_one({"name": "new"}).deleted_count, 1)
        self.assertEqual(c.delete_many({"n": {"$gte": 10}}).deleted_count, 3)
        self.assertEqual(c.count_documents({}), 0)

    def test_bulk_write(self):
        c = self.coll
        r = c.bulk_write([
            InsertOne({"_id": 1, "v": 1}),
            InsertOne({"_id": 2, "v": 2}),
            InsertOne({"_id": 3, "v": 3}),
            UpdateOne({"_id": 1}, {"$set": {"v": 10}}),
            UpdateMany({"_id": {"$gte": 2}}, {"$inc": {"v": 1}}),
            ReplaceOne({"_id": 4}, {"v": 4}, upsert=True),
            DeleteOne({"_id": 3}),
            DeleteMany({"v": 3}),
        ])
        self.assertEqual((r.inserted_count, r.matched_count, r.modified_count, r.deleted_count, r.upserted_count),
                         (3, 3, 3, 2, 1))
        self.assertEqual(r.inserted_ids, {0: 1, 1: 2, 2: 3})
        self.assertEqual(r.upserted_ids, {5: 4})
        self.assertEqual(sorted(d["_id"] for d in c.find()), [1, 4])

    def test_write_concern_and_names(self):
        db = self.client.get_database(self.coll.database.name, write_concern=mongogate.WriteConcern(w=1))
        c = db.get_collection("c")
        c.insert_one({"x": 1})
        self.assertEqual(self.client[db.name].c.count_documents({}), 1)
        with self.assertRaises(TypeError):
            c.insert_one([("x", 1)])
        with self.assertRaises(TypeError):
            c.update_one(None, {"$set": {"x": 1}})


if __name__ == "__main__":
    unittest.main()
