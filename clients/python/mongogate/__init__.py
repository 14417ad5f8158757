"""mongogate: the Python client of mongogate, in PyMongo's style.

    from mongogate import MongogateClient

    with MongogateClient("127.0.0.1:50051") as client:
        orders = client["shop"]["orders"]
        orders.insert_one({"sku": "A1", "qty": 2})
        with client.start_session() as s:
            s.with_transaction(lambda s: orders.update_one(
                {"sku": "A1"}, {"$inc": {"qty": -1}}, session=s))

Documents are dicts (any mapping) with BSON types from PyMongo's ``bson``
package; they travel as BSON, so ObjectId, Int64, Decimal128, datetime and
Binary come back exactly as they went. Errors are MongogateError
subclasses, one per reason of the wire contract (mongogate.errors).
"""

from ._codec import ASCENDING, DESCENDING, DEFAULT_CODEC_OPTIONS, WriteConcern
from .client import Database, MongogateClient
from .collection import Collection, TxnOp
from .cursor import Cursor
from .errors import *  # noqa: F401,F403
from .errors import BY_REASON, MongogateError
from .operations import (DeleteMany, DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateMany,
                         UpdateOne)
from .results import (BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult,
                      RunTransactionResult, UpdateResult)
from .session import (ClientSession, SessionInfo, TransactionInfo, TransactionOptions,
                      TransactionOutcome)

__version__ = "0.1.0"

__all__ = [
    "MongogateClient", "Database", "Collection", "Cursor", "ClientSession", "TxnOp",
    "TransactionOptions", "TransactionOutcome", "SessionInfo", "TransactionInfo",
    "WriteConcern", "ReturnDocument", "ASCENDING", "DESCENDING", "DEFAULT_CODEC_OPTIONS",
    "InsertOne", "UpdateOne", "UpdateMany", "ReplaceOne", "DeleteOne", "DeleteMany",
    "InsertOneResult", "InsertManyResult", "UpdateResult", "DeleteResult", "BulkWriteResult",
    "RunTransactionResult", "MongogateError",
] + [cls.__name__ for cls in BY_REASON.values()] + [
    "ClientClosed", "SessionEnded", "OwnerGoneAborted", "OwnerGoneUnknown",
]
