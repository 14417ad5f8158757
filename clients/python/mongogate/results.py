"""Results of write operations, shaped like PyMongo's."""

from typing import Any, Dict, List, Optional


class _Result:
    __slots__ = ()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (k, getattr(self, k)) for k in self.__slots__))

    def __eq__(self, other):
        return type(other) is type(self) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)


class InsertOneResult(_Result):
    """inserted_id: the _id of the inserted document."""
    __slots__ = ("inserted_id", "acknowledged")

    def __init__(self, inserted_id: Any, acknowledged: bool = True):
        self.inserted_id, self.acknowledged = inserted_id, acknowledged


class InsertManyResult(_Result):
    """inserted_ids: the _id of each document, in order."""
    __slots__ = ("inserted_ids", "acknowledged")

    def __init__(self, inserted_ids: List[Any], acknowledged: bool = True):
        self.inserted_ids, self.acknowledged = inserted_ids, acknowledged


class UpdateResult(_Result):
    """Counts of an update or replace; upserted_id is None unless an upsert
    inserted a document."""
    __slots__ = ("matched_count", "modified_count", "upserted_count", "upserted_id", "acknowledged")

    def __init__(self, matched_count: int, modified_count: int, upserted_count: int = 0,
                 upserted_id: Any = None, acknowledged: bool = True):
        self.matched_count, self.modified_count = matched_count, modified_count
        self.upserted_count, self.upserted_id = upserted_count, upserted_id
        self.acknowledged = acknowledged


class DeleteResult(_Result):
    __slots__ = ("deleted_count", "acknowledged")

    def __init__(self, deleted_count: int, acknowledged: bool = True):
        self.deleted_count, self.acknowledged = deleted_count, acknowledged


class BulkWriteResult(_Result):
    """Counts of a bulk write; upserted_ids and inserted_ids map a model's
    index to the _id it wrote."""
    __slots__ = ("inserted_count", "matched_count", "modified_count", "deleted_count",
                 "upserted_count", "upserted_ids", "inserted_ids", "acknowledged")

    def __init__(self, inserted_count=0, matched_count=0, modified_count=0, deleted_count=0,
                 upserted_count=0, upserted_ids: Optional[Dict[int, Any]] = None,
                 inserted_ids: Optional[Dict[int, Any]] = None, acknowledged=True):
        self.inserted_count, self.matched_count = inserted_count, matched_count
        self.modified_count, self.deleted_count = modified_count, deleted_count
        self.upserted_count = upserted_count
        self.upserted_ids = upserted_ids or {}
        self.inserted_ids = inserted_ids or {}
        self.acknowledged = acknowledged


class RunTransactionResult(_Result):
    """results: one per operation, of the type its collection method
    returns (InsertOneResult, UpdateResult, a document or None, an int,
    a list); transaction_number: the committed transaction's number in its
    session; attempts: how many times it ran."""
    __slots__ = ("results", "transaction_number", "attempts")

    def __init__(self, results: List[Any], transaction_number: int, attempts: int):
        self.results, self.transaction_number, self.attempts = results, transaction_number, attempts
