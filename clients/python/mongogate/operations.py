"""Write models of bulk_write and ReturnDocument, as in PyMongo."""

from typing import Any, Mapping, Optional, Sequence, Union

from ._codec import Codec, index_spec, set_hint
from ._pb import common_pb2, document_pb2


class ReturnDocument:
    """Which version of the document find_one_and_update and
    find_one_and_replace return (PyMongo's values)."""
    BEFORE = False
    AFTER = True


def return_document_of(rd: Any) -> int:
    return document_pb2.RETURN_DOCUMENT_AFTER if rd else document_pb2.RETURN_DOCUMENT_BEFORE


def set_update(msg, codec: Codec, update: Union[Mapping, Sequence]) -> None:
    """Sets an update_spec oneof: update operators (a mapping) or an
    aggregation pipeline (a list of stages)."""
    if update is None:
        raise TypeError("update is required")
    if isinstance(update, (list, tuple)):
        msg.update_pipeline.CopyFrom(common_pb2.Pipeline(stages=[codec.required("stage", s) for s in update]))
    else:
        msg.update.CopyFrom(codec.required("update", update))


class _Model:
    __slots__ = ()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (k, getattr(self, k)) for k in self.__slots__ if getattr(self, k) is not None))


class InsertOne(_Model):
    __slots__ = ("document",)

    def __init__(self, document: Mapping):
        self.document = document

    def _pb(self, codec: Codec) -> document_pb2.WriteModel:
        return document_pb2.WriteModel(insert_one=document_pb2.InsertOneModel(
            document=codec.required("document", self.document)))


class _UpdateModel(_Model):
    __slots__ = ("filter", "update", "upsert", "collation", "array_filters", "hint")
    _kind = ""

    def __init__(self, filter: Mapping, update: Any, upsert: bool = False,
                 collation: Optional[Mapping] = None, array_filters: Optional[Sequence[Mapping]] = None,
                 hint: Any = None):
        self.filter, self.update, self.upsert = filter, update, upsert
        self.collation, self.array_filters, self.hint = collation, array_filters, hint

    def _pb(self, codec: Codec) -> document_pb2.WriteModel:
        m = (document_pb2.UpdateOneModel if self._kind == "update_one" else document_pb2.UpdateManyModel)()
        m.filter.CopyFrom(codec.required("filter", self.filter))
        set_update(m, codec, self.update)
        m.upsert = bool(self.upsert)
        for f in self.array_filters or ():
            m.array_filters.append(codec.required("array filter", f))
        if self.collation is not None:
            m.collation.CopyFrom(codec.required("collation", self.collation))
        set_hint(m, codec, self.hint)
        return document_pb2.WriteModel(**{self._kind: m})


class UpdateOne(_UpdateModel):
    __slots__ = ()
    _kind = "update_one"


class UpdateMany(_UpdateModel):
    __slots__ = ()
    _kind = "update_many"


class ReplaceOne(_Model):
    __slots__ = ("filter", "replacement", "upsert", "collation", "hint")

    def __init__(self, filter: Mapping, replacement: Mapping, upsert: bool = False,
                 collation: Optional[Mapping] = None, hint: Any = None):
        self.filter, self.replacement, self.upsert = filter, replacement, upsert
        self.collation, self.hint = collation, hint

    def _pb(self, codec: Codec) -> document_pb2.WriteModel:
        m = document_pb2.ReplaceOneModel(
            filter=codec.required("filter", self.filter),
            replacement=codec.required("replacement", self.replacement), upsert=bool(self.upsert))
        if self.collation is not None:
            m.collation.CopyFrom(codec.required("collation", self.collation))
        set_hint(m, codec, self.hint)
        return document_pb2.WriteModel(replace_one=m)


class _DeleteModel(_Model):
    __slots__ = ("filter", "collation", "hint")
    _kind = ""

    def __init__(self, filter: Mapping, collation: Optional[Mapping] = None, hint: Any = None):
        self.filter, self.collation, self.hint = filter, collation, hint

    def _pb(self, codec: Codec) -> document_pb2.WriteModel:
        m = (document_pb2.DeleteOneModel if self._kind == "delete_one" else document_pb2.DeleteManyModel)()
        m.filter.CopyFrom(codec.required("filter", self.filter))
        if self.collation is not None:
            m.collation.CopyFrom(codec.required("collation", self.collation))
        set_hint(m, codec, self.hint)
        return document_pb2.WriteModel(**{self._kind: m})


class DeleteOne(_DeleteModel):
    __slots__ = ()
    _kind = "delete_one"


class DeleteMany(_DeleteModel):
    __slots__ = ()
    _kind = "delete_many"


__all__ = ["ReturnDocument", "InsertOne", "UpdateOne", "UpdateMany", "ReplaceOne",
           "DeleteOne", "DeleteMany", "index_spec"]
