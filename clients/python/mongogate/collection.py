"""Collection: CRUD and aggregation on one collection, in PyMongo's style."""

from collections.abc import Mapping, MutableMapping
from typing import Any, Callable, Iterable, List, Optional, Sequence

from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument

from ._codec import (BSON_FORMAT, duration_ms, index_spec, projection_of, set_doc, set_hint,
                     write_concern_of)
from ._pb import common_pb2, document_pb2, transaction_pb2
from .cursor import Cursor
from .errors import ClientClosed
from .operations import return_document_of, set_update
from .results import (BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult,
                      UpdateResult)


class TxnOp:
    """One operation of MongogateClient.run_transaction, made by a
    collection's ``*_op`` methods."""

    __slots__ = ("collection", "op", "result")

    def __init__(self, collection: "Collection", op: transaction_pb2.Operation,
                 result: Callable[[transaction_pb2.OperationResult], Any]):
        self.collection, self.op, self.result = collection, op, result


def _with_id(doc: Any) -> Any:
    """Adds an ObjectId _id to a document without one, as PyMongo does."""
    if isinstance(doc, MutableMapping) and not isinstance(doc, RawBSONDocument) and "_id" not in doc:
        doc["_id"] = ObjectId()
    return doc


class Collection:
    """A collection; it does not call the server until an operation runs.

    Every operation takes ``session=``: the ClientSession to run in (and
    in its open transaction).
    """

    def __init__(self, database, name: str, write_concern=None):
        self.database, self.name, self.write_concern = database, name, write_concern
        self._client = database.client
        self._codec = database.client._codec
        self._ns_pb = common_pb2.Namespace(database=database.name, collection=name)

    def __repr__(self):
        return "Collection(%r, %r)" % (self.database, self.name)

    @property
    def full_name(self) -> str:
        return "%s.%s" % (self.database.name, self.name)

    def with_options(self, write_concern=None) -> "Collection":
        return Collection(self.database, self.name, write_concern if write_concern is not None else self.write_concern)

    # -- plumbing ---------------------------------------------------------

    def _ns(self) -> common_pb2.Namespace:
        return self._ns_pb

    def _begin(self, req, session, write_concern=True):
        """Fills the request's session, backend, namespace and write
        concern; returns the stubs to call."""
        client = self._client
        if client._closed:
            raise ClientClosed("client is closed")
        req.namespace.CopyFrom(self._ns())
        stubs = client._main
        if self.database.backend:
            req.client = self.database.backend
        in_txn = False
        if session is not None:
            stubs = session._stubs_for(client)
            req.session_token = session._token
            in_txn = session.in_transaction
        # Inside a transaction the transaction's write concern applies and
        # the server refuses another.
        if write_concern and not in_txn:
            wc = write_concern_of(self.write_concern)
            if wc is not None:
                req.write_concern.CopyFrom(wc)
        return stubs

    def _call(self, method: str, req, session, write_concern=True):
        stubs = self._begin(req, session, write_concern)
        return self._client._unary(stubs, "docs", method, req)

    def _update_result(self, r) -> UpdateResult:
        return UpdateResult(r.matched_count, r.modified_count, r.upserted_count,
                            self._codec.value_opt(r, "upserted_id"), r.acknowledged)

    # -- request builders, shared with the *_op methods -------------------

    def _insert_one_req(self, document, bypass_document_validation, comment):
        if document is None:
            raise TypeError("document is required")
        req = document_pb2.InsertOneRequest(response_format=BSON_FORMAT)
        req.document.bson = self._codec.encode(_with_id(document))
        if bypass_document_validation or comment:
            req.options.bypass_document_validation = bool(bypass_document_validation)
            req.options.comment = comment or ""
        return req

    def _insert_many_req(self, documents, ordered, bypass_document_validation, comment):
        if isinstance(documents, Mapping) or not isinstance(documents, Iterable):
            raise TypeError("documents must be an iterable of documents")
        req = document_pb2.InsertManyRequest(response_format=BSON_FORMAT)
        req.documents.extend(self._codec.required("document", _with_id(d)) for d in documents)
        if not req.documents:
            raise ValueError("documents must not be empty")
        if ordered is not None:
            req.options.ordered = bool(ordered)
        req.options.bypass_document_validation = bool(bypass_document_validation)
        req.options.comment = comment or ""
        return req

    def _find_one_req(self, filter, projection, sort, skip, hint, comment, max_time_ms, collation):
        req = document_pb2.FindOneRequest(response_format=BSON_FORMAT)
        codec = self._codec
        if filter is not None:
            req.filter.bson = codec.encode(filter)
        if (projection is None and sort is None and not skip and hint is None and not comment
                and max_time_ms is None and collation is None):
            return req  # no options message at all: the common case, kept cheap
        o = req.options
        set_doc(o, "projection", codec, projection_of(projection))
        set_doc(o, "sort", codec, index_spec(sort, "sort"))
        o.skip = int(skip or 0)
        set_hint(o, codec, hint)
        o.comment = comment or ""
        if max_time_ms is not None:
            o.max_time.CopyFrom(duration_ms(max_time_ms))
        set_doc(o, "collation", codec, collation)
        return req

    def _update_req(self, cls, filter, update, upsert, array_filters, hint, let, comment,
                    collation, bypass_document_validation):
        req = cls(response_format=BSON_FORMAT)
        codec = self._codec
        req.filter.CopyFrom(codec.required("filter", filter))
        set_update(req, codec, update)
        o = req.options
        o.upsert = bool(upsert)
        for f in array_filters or ():
            o.array_filters.append(codec.required("array filter", f))
        set_hint(o, codec, hint)
        set_doc(o, "let", codec, let)
        o.comment = comment or ""
        set_doc(o, "collation", codec, collation)
        o.bypass_document_validation = bool(bypass_document_validation)
        return req

    def _replace_req(self, filter, replacement, upsert, hint, let, comment, collation,
                     bypass_document_validation):
        req = document_pb2.ReplaceOneRequest(response_format=BSON_FORMAT)
        codec = self._codec
        req.filter.CopyFrom(codec.required("filter", filter))
        req.replacement.CopyFrom(codec.required("replacement", replacement))
        o = req.options
        o.upsert = bool(upsert)
        set_hint(o, codec, hint)
        set_doc(o, "let", codec, let)
        o.comment = comment or ""
        set_doc(o, "collation", codec, collation)
        o.bypass_document_validation = bool(bypass_document_validation)
        return req

    def _delete_req(self, cls, filter, hint, let, comment, collation):
        req = cls()
        codec = self._codec
        req.filter.CopyFrom(codec.required("filter", filter))
        o = req.options
        set_hint(o, codec, hint)
        set_doc(o, "let", codec, let)
        o.comment = comment or ""
        set_doc(o, "collation", codec, collation)
        return req

    def _fam_options(self, o, projection, sort, hint, let, comment, collation):
        codec = self._codec
        set_doc(o, "projection", codec, projection_of(projection))
        set_doc(o, "sort", codec, index_spec(sort, "sort"))
        set_hint(o, codec, hint)
        set_doc(o, "let", codec, let)
        o.comment = comment or ""
        set_doc(o, "collation", codec, collation)

    def _count_req(self, filter, skip, limit, hint, comment, max_time_ms, collation):
        req = document_pb2.CountDocumentsRequest()
        codec = self._codec
        if filter is not None:
            req.filter.CopyFrom(codec.required("filter", filter))
        o = req.options
        o.skip, o.limit = int(skip or 0), int(limit or 0)
        set_hint(o, codec, hint)
        o.comment = comment or ""
        if max_time_ms is not None:
            o.max_time.CopyFrom(duration_ms(max_time_ms))
        set_doc(o, "collation", codec, collation)
        return req

    def _distinct_req(self, key, filter, comment, max_time_ms, collation):
        if not isinstance(key, str):
            raise TypeError("key must be a field name")
        req = document_pb2.DistinctRequest(field_name=key, response_format=BSON_FORMAT)
        codec = self._codec
        if filter is not None:
            req.filter.CopyFrom(codec.required("filter", filter))
        o = req.options
        o.comment = comment or ""
        if max_time_ms is not None:
            o.max_time.CopyFrom(duration_ms(max_time_ms))
        set_doc(o, "collation", codec, collation)
        return req

    def _bulk_req(self, requests, ordered, bypass_document_validation, comment, let):
        req = document_pb2.BulkWriteRequest(response_format=BSON_FORMAT)
        for m in requests:
            if not hasattr(m, "_pb"):
                raise TypeError("%r is not a write model (InsertOne, UpdateOne, ...)" % (m,))
            if hasattr(m, "document"):
                _with_id(m.document)
            req.models.append(m._pb(self._codec))
        if not req.models:
            raise ValueError("requests must not be empty")
        o = req.options
        if ordered is not None:
            o.ordered = bool(ordered)
        o.bypass_document_validation = bool(bypass_document_validation)
        o.comment = comment or ""
        set_doc(o, "let", self._codec, let)
        return req

    # -- results ----------------------------------------------------------

    def _insert_one_result(self, r):
        return InsertOneResult(self._codec.value_opt(r, "inserted_id"), r.acknowledged)

    def _insert_many_result(self, r):
        return InsertManyResult([self._codec.value(v) for v in r.inserted_ids], r.acknowledged)

    def _bulk_result(self, r):
        v = self._codec.value
        return BulkWriteResult(r.inserted_count, r.matched_count, r.modified_count, r.deleted_count,
                               r.upserted_count, {i.index: v(i.id) for i in r.upserted_ids},
                               {i.index: v(i.id) for i in r.inserted_ids}, r.acknowledged)

    # -- operations -------------------------------------------------------

    def insert_one(self, document: Mapping, bypass_document_validation: bool = False,
                   session=None, comment: Optional[str] = None) -> InsertOneResult:
        """Inserts a document, adding an ObjectId _id to it if it has none."""
        req = self._insert_one_req(document, bypass_document_validation, comment)
        return self._insert_one_result(self._call("InsertOne", req, session))

    def insert_many(self, documents: Iterable[Mapping], ordered: bool = True,
                    bypass_document_validation: bool = False, session=None,
                    comment: Optional[str] = None) -> InsertManyResult:
        req = self._insert_many_req(documents, ordered, bypass_document_validation, comment)
        return self._insert_many_result(self._call("InsertMany", req, session))

    def find_one(self, filter: Optional[Mapping] = None, projection=None, sort=None, skip: int = 0,
                 hint=None, comment: Optional[str] = None, max_time_ms: Optional[int] = None,
                 collation: Optional[Mapping] = None, session=None) -> Optional[Any]:
        """The first matching document, or None. filter may also be an _id
        value that is not a mapping, as in PyMongo."""
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        req = self._find_one_req(filter, projection, sort, skip, hint, comment, max_time_ms, collation)
        resp = self._call("FindOne", req, session, write_concern=False)
        return self._codec.decode_opt(resp, "document")

    def find(self, filter: Optional[Mapping] = None, projection=None, skip: int = 0, limit: int = 0,
             sort=None, batch_size: int = 0, hint=None, comment: Optional[str] = None,
             max_time_ms: Optional[int] = None, let: Optional[Mapping] = None,
             collation: Optional[Mapping] = None, allow_disk_use: Optional[bool] = None,
             session=None) -> Cursor:
        """A Cursor over the matching documents, read lazily from the
        server's stream, batch by batch."""
        req = document_pb2.FindRequest(response_format=BSON_FORMAT)
        codec = self._codec
        if filter is not None:
            req.filter.CopyFrom(codec.required("filter", filter))
        o = req.options
        set_doc(o, "projection", codec, projection_of(projection))
        set_doc(o, "sort", codec, index_spec(sort, "sort"))
        o.skip, o.limit, o.batch_size = int(skip or 0), int(limit or 0), int(batch_size or 0)
        set_hint(o, codec, hint)
        o.comment = comment or ""
        if max_time_ms is not None:
            o.max_time.CopyFrom(duration_ms(max_time_ms))
        set_doc(o, "let", codec, let)
        set_doc(o, "collation", codec, collation)
        if allow_disk_use is not None:
            o.allow_disk_use = bool(allow_disk_use)
        stubs = self._begin(req, session, write_concern=False)
        call, fallback = self._client._stream(stubs, "Find", req)
        return Cursor(lambda: call, codec, fallback)

    def aggregate(self, pipeline: Sequence[Mapping], allow_disk_use: Optional[bool] = None,
                  batch_size: int = 0, bypass_document_validation: bool = False,
                  collation: Optional[Mapping] = None, comment: Optional[str] = None, hint=None,
                  let: Optional[Mapping] = None, max_time_ms: Optional[int] = None,
                  session=None) -> Cursor:
        """A Cursor over the pipeline's output, read lazily."""
        if isinstance(pipeline, Mapping):
            raise TypeError("pipeline must be a list of stages")
        req = document_pb2.AggregateRequest(response_format=BSON_FORMAT)
        codec = self._codec
        req.pipeline.extend(codec.required("stage", s) for s in pipeline)
        o = req.options
        if allow_disk_use is not None:
            o.allow_disk_use = bool(allow_disk_use)
        o.batch_size = int(batch_size or 0)
        o.bypass_document_validation = bool(bypass_document_validation)
        set_doc(o, "collation", codec, collation)
        o.comment = comment or ""
        set_hint(o, codec, hint)
        set_doc(o, "let", codec, let)
        if max_time_ms is not None:
            o.max_time.CopyFrom(duration_ms(max_time_ms))
        last = pipeline[-1] if pipeline else {}
        writes = isinstance(last, Mapping) and ("$out" in last or "$merge" in last)
        stubs = self._begin(req, session, write_concern=writes)
        call, fallback = self._client._stream(stubs, "Aggregate", req)
        return Cursor(lambda: call, codec, fallback)

    def update_one(self, filter: Mapping, update, upsert: bool = False, array_filters=None,
                   hint=None, let=None, comment=None, collation=None,
                   bypass_document_validation: bool = False, session=None) -> UpdateResult:
        """Updates the first match; update is operators or a pipeline (list)."""
        req = self._update_req(document_pb2.UpdateOneRequest, filter, update, upsert, array_filters,
                               hint, let, comment, collation, bypass_document_validation)
        return self._update_result(self._call("UpdateOne", req, session))

    def update_many(self, filter: Mapping, update, upsert: bool = False, array_filters=None,
                    hint=None, let=None, comment=None, collation=None,
                    bypass_document_validation: bool = False, session=None) -> UpdateResult:
        req = self._update_req(document_pb2.UpdateManyRequest, filter, update, upsert, array_filters,
                               hint, let, comment, collation, bypass_document_validation)
        return self._update_result(self._call("UpdateMany", req, session))

    def replace_one(self, filter: Mapping, replacement: Mapping, upsert: bool = False, hint=None,
                    let=None, comment=None, collation=None,
                    bypass_document_validation: bool = False, session=None) -> UpdateResult:
        req = self._replace_req(filter, replacement, upsert, hint, let, comment, collation,
                                bypass_document_validation)
        return self._update_result(self._call("ReplaceOne", req, session))

    def delete_one(self, filter: Mapping, hint=None, let=None, comment=None, collation=None,
                   session=None) -> DeleteResult:
        req = self._delete_req(document_pb2.DeleteOneRequest, filter, hint, let, comment, collation)
        r = self._call("DeleteOne", req, session)
        return DeleteResult(r.deleted_count, r.acknowledged)

    def delete_many(self, filter: Mapping, hint=None, let=None, comment=None, collation=None,
                    session=None) -> DeleteResult:
        req = self._delete_req(document_pb2.DeleteManyRequest, filter, hint, let, comment, collation)
        r = self._call("DeleteMany", req, session)
        return DeleteResult(r.deleted_count, r.acknowledged)

    def find_one_and_update(self, filter: Mapping, update, projection=None, sort=None,
                            upsert: bool = False, return_document=False, array_filters=None,
                            hint=None, let=None, comment=None, collation=None,
                            bypass_document_validation: bool = False, session=None):
        """Updates the first match and returns it as it was before
        (ReturnDocument.BEFORE, the default) or after the update; None if
        nothing matched."""
        req = self._fau_req(filter, update, projection, sort, upsert, return_document, array_filters,
                            hint, let, comment, collation, bypass_document_validation)
        return self._codec.decode_opt(self._call("FindOneAndUpdate", req, session), "document")

    def _fau_req(self, filter, update, projection, sort, upsert, return_document, array_filters,
                 hint, let, comment, collation, bypass_document_validation):
        req = document_pb2.FindOneAndUpdateRequest(response_format=BSON_FORMAT)
        codec = self._codec
        req.filter.CopyFrom(codec.required("filter", filter))
        set_update(req, codec, update)
        o = req.options
        o.return_document = return_document_of(return_document)
        self._fam_options(o, projection, sort, hint, let, comment, collation)
        o.upsert = bool(upsert)
        for f in array_filters or ():
            o.array_filters.append(codec.required("array filter", f))
        o.bypass_document_validation = bool(bypass_document_validation)
        return req

    def find_one_and_replace(self, filter: Mapping, replacement: Mapping, projection=None, sort=None,
                             upsert: bool = False, return_document=False, hint=None, let=None,
                             comment=None, collation=None, bypass_document_validation: bool = False,
                             session=None):
        req = self._far_req(filter, replacement, projection, sort, upsert, return_document, hint,
                            let, comment, collation, bypass_document_validation)
        return self._codec.decode_opt(self._call("FindOneAndReplace", req, session), "document")

    def _far_req(self, filter, replacement, projection, sort, upsert, return_document, hint, let,
                 comment, collation, bypass_document_validation):
        req = document_pb2.FindOneAndReplaceRequest(response_format=BSON_FORMAT)
        codec = self._codec
        req.filter.CopyFrom(codec.required("filter", filter))
        req.replacement.CopyFrom(codec.required("replacement", replacement))
        o = req.options
        o.return_document = return_document_of(return_document)
        self._fam_options(o, projection, sort, hint, let, comment, collation)
        o.upsert = bool(upsert)
        o.bypass_document_validation = bool(bypass_document_validation)
        return req

    def find_one_and_delete(self, filter: Mapping, projection=None, sort=None, hint=None, let=None,
                            comment=None, collation=None, session=None):
        req = self._fad_req(filter, projection, sort, hint, let, comment, collation)
        return self._codec.decode_opt(self._call("FindOneAndDelete", req, session), "document")

    def _fad_req(self, filter, projection, sort, hint, let, comment, collation):
        req = document_pb2.FindOneAndDeleteRequest(response_format=BSON_FORMAT)
        req.filter.CopyFrom(self._codec.required("filter", filter))
        self._fam_options(req.options, projection, sort, hint, let, comment, collation)
        return req

    def count_documents(self, filter: Mapping, skip: int = 0, limit: int = 0, hint=None,
                        comment=None, max_time_ms=None, collation=None, session=None) -> int:
        req = self._count_req(filter, skip, limit, hint, comment, max_time_ms, collation)
        return self._call("CountDocuments", req, session, write_concern=False).count

    def distinct(self, key: str, filter: Optional[Mapping] = None, comment=None, max_time_ms=None,
                 collation=None, session=None) -> List[Any]:
        req = self._distinct_req(key, filter, comment, max_time_ms, collation)
        resp = self._call("Distinct", req, session, write_concern=False)
        return [self._codec.value(v) for v in resp.values]

    def bulk_write(self, requests: Sequence, ordered: bool = True,
                   bypass_document_validation: bool = False, comment=None, let=None,
                   session=None) -> BulkWriteResult:
        """Runs InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne and
        DeleteMany models (mongogate.operations) in one command."""
        req = self._bulk_req(requests, ordered, bypass_document_validation, comment, let)
        return self._bulk_result(self._call("BulkWrite", req, session))

    # -- operations of run_transaction -------------------------------------

    def _op(self, field: str, cls, req, fields, result) -> TxnOp:
        m = cls(namespace=self._ns())
        for f in fields:
            if req.HasField(f) if f in ("filter", "document", "replacement", "options", "update",
                                        "update_pipeline") else True:
                v = getattr(req, f)
                if hasattr(v, "CopyFrom"):
                    getattr(m, f).CopyFrom(v)
                elif isinstance(v, (str, int)):
                    setattr(m, f, v)
                else:
                    getattr(m, f).extend(v)
        op = transaction_pb2.Operation(**{field: m})
        return TxnOp(self, op, lambda r: result(getattr(r, field)))

    def insert_one_op(self, document, bypass_document_validation=False, comment=None) -> TxnOp:
        """insert_one as an operation of run_transaction."""
        req = self._insert_one_req(document, bypass_document_validation, comment)
        return self._op("insert_one", transaction_pb2.InsertOneOperation, req,
                        ("document", "options"), self._insert_one_result)

    def insert_many_op(self, documents, ordered=True, bypass_document_validation=False,
                       comment=None) -> TxnOp:
        req = self._insert_many_req(documents, ordered, bypass_document_validation, comment)
        return self._op("insert_many", transaction_pb2.InsertManyOperation, req,
                        ("documents", "options"), self._insert_many_result)

    def update_one_op(self, filter, update, upsert=False, array_filters=None, hint=None, let=None,
                      comment=None, collation=None, bypass_document_validation=False) -> TxnOp:
        req = self._update_req(document_pb2.UpdateOneRequest, filter, update, upsert, array_filters,
                               hint, let, comment, collation, bypass_document_validation)
        return self._op("update_one", transaction_pb2.UpdateOneOperation, req,
                        ("filter", "update", "update_pipeline", "options"), self._update_result)

    def update_many_op(self, filter, update, upsert=False, array_filters=None, hint=None, let=None,
                       comment=None, collation=None, bypass_document_validation=False) -> TxnOp:
        req = self._update_req(document_pb2.UpdateManyRequest, filter, update, upsert, array_filters,
                               hint, let, comment, collation, bypass_document_validation)
        return self._op("update_many", transaction_pb2.UpdateManyOperation, req,
                        ("filter", "update", "update_pipeline", "options"), self._update_result)

    def replace_one_op(self, filter, replacement, upsert=False, hint=None, let=None, comment=None,
                       collation=None, bypass_document_validation=False) -> TxnOp:
        req = self._replace_req(filter, replacement, upsert, hint, let, comment, collation,
                                bypass_document_validation)
        return self._op("replace_one", transaction_pb2.ReplaceOneOperation, req,
                        ("filter", "replacement", "options"), self._update_result)

    def delete_one_op(self, filter, hint=None, let=None, comment=None, collation=None) -> TxnOp:
        req = self._delete_req(document_pb2.DeleteOneRequest, filter, hint, let, comment, collation)
        return self._op("delete_one", transaction_pb2.DeleteOneOperation, req, ("filter", "options"),
                        lambda r: DeleteResult(r.deleted_count, r.acknowledged))

    def delete_many_op(self, filter, hint=None, let=None, comment=None, collation=None) -> TxnOp:
        req = self._delete_req(document_pb2.DeleteManyRequest, filter, hint, let, comment, collation)
        return self._op("delete_many", transaction_pb2.DeleteManyOperation, req, ("filter", "options"),
                        lambda r: DeleteResult(r.deleted_count, r.acknowledged))

    def find_one_op(self, filter=None, projection=None, sort=None, skip=0, hint=None, comment=None,
                    max_time_ms=None, collation=None) -> TxnOp:
        """find_one as an operation; its result is the document or None."""
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        req = self._find_one_req(filter, projection, sort, skip, hint, comment, max_time_ms, collation)
        return self._op("find_one", transaction_pb2.FindOneOperation, req, ("filter", "options"),
                        lambda r: self._codec.decode_opt(r, "document"))

    def find_one_and_update_op(self, filter, update, projection=None, sort=None, upsert=False,
                               return_document=False, array_filters=None, hint=None, let=None,
                               comment=None, collation=None, bypass_document_validation=False) -> TxnOp:
        req = self._fau_req(filter, update, projection, sort, upsert, return_document, array_filters,
                            hint, let, comment, collation, bypass_document_validation)
        return self._op("find_one_and_update", transaction_pb2.FindOneAndUpdateOperation, req,
                        ("filter", "update", "update_pipeline", "options"),
                        lambda r: self._codec.decode_opt(r, "document"))

    def find_one_and_replace_op(self, filter, replacement, projection=None, sort=None, upsert=False,
                                return_document=False, hint=None, let=None, comment=None,
                                collation=None, bypass_document_validation=False) -> TxnOp:
        req = self._far_req(filter, replacement, projection, sort, upsert, return_document, hint, let,
                            comment, collation, bypass_document_validation)
        return self._op("find_one_and_replace", transaction_pb2.FindOneAndReplaceOperation, req,
                        ("filter", "replacement", "options"),
                        lambda r: self._codec.decode_opt(r, "document"))

    def find_one_and_delete_op(self, filter, projection=None, sort=None, hint=None, let=None,
                               comment=None, collation=None) -> TxnOp:
        req = self._fad_req(filter, projection, sort, hint, let, comment, collation)
        return self._op("find_one_and_delete", transaction_pb2.FindOneAndDeleteOperation, req,
                        ("filter", "options"), lambda r: self._codec.decode_opt(r, "document"))

    def count_documents_op(self, filter, skip=0, limit=0, hint=None, comment=None, max_time_ms=None,
                           collation=None) -> TxnOp:
        req = self._count_req(filter, skip, limit, hint, comment, max_time_ms, collation)
        return self._op("count_documents", transaction_pb2.CountDocumentsOperation, req,
                        ("filter", "options"), lambda r: r.count)

    def distinct_op(self, key, filter=None, comment=None, max_time_ms=None, collation=None) -> TxnOp:
        req = self._distinct_req(key, filter, comment, max_time_ms, collation)
        return self._op("distinct", transaction_pb2.DistinctOperation, req,
                        ("field_name", "filter", "options"),
                        lambda r: [self._codec.value(v) for v in r.values])

    def bulk_write_op(self, requests, ordered=True, bypass_document_validation=False, comment=None,
                      let=None) -> TxnOp:
        req = self._bulk_req(requests, ordered, bypass_document_validation, comment, let)
        return self._op("bulk_write", transaction_pb2.BulkWriteOperation, req, ("models", "options"),
                        self._bulk_result)
