"""Documents and options between Python and the wire.

Documents travel as BSON in both directions (Document.bson, and
response_format BSON), encoded and decoded by the ``bson`` package that
PyMongo ships, so ObjectId, Int64, Decimal128, datetime, Binary and key
order survive exactly.
"""

from collections.abc import Mapping
from typing import Any, Optional

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from bson.son import SON

try:  # pymongo >= 3.11
    from bson.binary import UuidRepresentation
    _UUID = {"uuid_representation": UuidRepresentation.STANDARD}
except ImportError:  # pragma: no cover
    _UUID = {}

from ._pb import common_pb2, document_pb2

#: The codec options used unless the client is given others: dicts (which
#: keep key order), naive UTC datetimes as in PyMongo, and UUIDs as BSON's
#: standard subtype 4.
DEFAULT_CODEC_OPTIONS = CodecOptions(document_class=dict, **_UUID)

BSON_FORMAT = common_pb2.DOCUMENT_FORMAT_BSON

ASCENDING = 1
DESCENDING = -1


class Codec:
    """Encodes and decodes with one set of codec options."""

    __slots__ = ("options",)

    def __init__(self, options: Optional[CodecOptions] = None):
        self.options = options or DEFAULT_CODEC_OPTIONS

    def encode(self, doc: Any) -> bytes:
        if isinstance(doc, RawBSONDocument):
            return doc.raw
        if isinstance(doc, (bytes, bytearray, memoryview)):
            return bytes(doc)
        if not isinstance(doc, Mapping):
            raise TypeError("document must be a mapping (dict, SON, RawBSONDocument), not %s"
                            % type(doc).__name__)
        return bson.encode(doc, codec_options=self.options)

    def doc(self, d: Any) -> Optional[common_pb2.Document]:
        """An optional document: None stays None."""
        if d is None:
            return None
        return common_pb2.Document(bson=self.encode(d))

    def required(self, what: str, d: Any) -> common_pb2.Document:
        if d is None:
            raise TypeError("%s is required; use {} to match every document" % what)
        return common_pb2.Document(bson=self.encode(d))

    def decode(self, d: common_pb2.Document) -> Any:
        which = d.WhichOneof("value")
        if which == "bson":
            return bson.decode(d.bson, codec_options=self.options)
        if which == "json":
            from bson import json_util
            return json_util.loads(d.json, json_options=json_util.JSONOptions(
                document_class=self.options.document_class, tz_aware=self.options.tz_aware))
        return None

    def decode_opt(self, msg, field: str) -> Any:
        """A Document field of msg, or None if it is unset."""
        if not msg.HasField(field):
            return None
        return self.decode(getattr(msg, field))

    def value(self, v: common_pb2.Value) -> Any:
        which = v.WhichOneof("value")
        if which == "bson":
            return bson.decode(v.bson, codec_options=self.options)["v"]
        if which == "json":
            from bson import json_util
            return json_util.loads('{"v": %s}' % v.json)["v"]
        return None

    def value_opt(self, msg, field: str) -> Any:
        if not msg.HasField(field):
            return None
        return self.value(getattr(msg, field))


def index_spec(spec: Any, what: str) -> Any:
    """A sort or hint key pattern in PyMongo's forms: "field", a list of
    (field, direction) pairs, or a mapping; returned as an ordered mapping."""
    if spec is None or isinstance(spec, Mapping):
        return spec
    if isinstance(spec, str):
        return SON([(spec, ASCENDING)])
    if isinstance(spec, (list, tuple)):
        out = SON()
        for item in spec:
            if isinstance(item, str):
                out[item] = ASCENDING
            else:
                k, v = item
                out[k] = v
        return out
    raise TypeError("%s must be a field name, a list of (field, direction) pairs or a mapping" % what)


def projection_of(p: Any) -> Any:
    """PyMongo's projection forms: a mapping or a list of field names."""
    if p is None or isinstance(p, Mapping):
        return p
    if isinstance(p, (list, tuple)):
        return SON([(f, 1) for f in p])
    raise TypeError("projection must be a mapping or a list of field names")


def duration_ms(ms: Optional[float]):
    """Sets a google.protobuf.Duration from milliseconds (None: unset)."""
    if ms is None:
        return None
    from google.protobuf import duration_pb2
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(ms))
    return d


def duration_s(seconds: Optional[float]):
    if seconds is None:
        return None
    from google.protobuf import duration_pb2
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def set_hint(opts, codec: Codec, hint: Any) -> None:
    """Sets an options message's hint_spec oneof: a name or a key pattern."""
    if hint is None:
        return
    if isinstance(hint, str):
        opts.hint_name = hint
    else:
        opts.hint.CopyFrom(codec.required("hint", index_spec(hint, "hint")))


def set_doc(opts, field: str, codec: Codec, d: Any) -> None:
    if d is not None:
        getattr(opts, field).CopyFrom(codec.required(field, d))


def write_concern_of(wc: Any) -> Optional[common_pb2.WriteConcern]:
    """A WriteConcern from mongogate.WriteConcern, PyMongo's WriteConcern
    (anything with a .document mapping) or a mapping {"w": ..., "j": ...}."""
    if wc is None:
        return None
    doc = wc.document if hasattr(wc, "document") else wc
    if not isinstance(doc, Mapping):
        raise TypeError("write_concern must be a WriteConcern or a mapping")
    out = common_pb2.WriteConcern()
    w = doc.get("w")
    if isinstance(w, bool):
        raise TypeError("write concern w must be a number or a tag")
    if isinstance(w, int):
        out.w_nodes = w
    elif isinstance(w, str):
        out.w_tag = w
    elif w is not None:
        raise TypeError("write concern w must be a number or a tag")
    j = doc.get("j")
    if j is not None:
        out.journal = bool(j)
    return out


class WriteConcern:
    """MongoDB's write concern: w (a node count or a tag such as
    "majority") and j (journal). There is no wtimeout: bound writes with
    the call's timeout."""

    __slots__ = ("document",)

    def __init__(self, w: Any = None, j: Optional[bool] = None):
        self.document = {}
        if w is not None:
            self.document["w"] = w
        if j is not None:
            self.document["j"] = j

    def __repr__(self):
        return "WriteConcern(%s)" % ", ".join("%s=%r" % kv for kv in self.document.items())

    def __eq__(self, other):
        return isinstance(other, WriteConcern) and other.document == self.document


_READ_PREF_MODES = {
    "primary": common_pb2.READ_PREFERENCE_MODE_PRIMARY,
    "primarypreferred": common_pb2.READ_PREFERENCE_MODE_PRIMARY_PREFERRED,
    "secondary": common_pb2.READ_PREFERENCE_MODE_SECONDARY,
    "secondarypreferred": common_pb2.READ_PREFERENCE_MODE_SECONDARY_PREFERRED,
    "nearest": common_pb2.READ_PREFERENCE_MODE_NEAREST,
}


def read_preference_of(rp: Any, codec: Codec) -> Optional[common_pb2.ReadPreference]:
    """A ReadPreference from a mode name ("primary", "secondaryPreferred",
    ...) or PyMongo's read preference objects (mongos_mode, tag_sets,
    max_staleness)."""
    if rp is None:
        return None
    out = common_pb2.ReadPreference()
    if isinstance(rp, str):
        mode, tags, staleness = rp, None, -1
    else:
        mode = getattr(rp, "mongos_mode", None) or getattr(rp, "name", None)
        tags = getattr(rp, "tag_sets", None)
        staleness = getattr(rp, "max_staleness", -1)
    try:
        out.mode = _READ_PREF_MODES[str(mode).replace("_", "").lower()]
    except KeyError:
        raise ValueError("unknown read preference mode %r" % (mode,)) from None
    for ts in tags or ():
        if ts or len(tags) > 1:
            out.tag_sets.append(codec.required("tag set", ts))
    if staleness is not None and staleness > 0:
        out.max_staleness.CopyFrom(duration_s(staleness))
    return out


def transaction_options_of(codec: Codec, read_concern=None, write_concern=None,
                           read_preference=None, max_commit_time_ms=None,
                           record_outcome=None) -> Optional[common_pb2.TransactionOptions]:
    """TransactionOptions; None when nothing is set."""
    if (read_concern is None and write_concern is None and read_preference is None
            and max_commit_time_ms is None and record_outcome is None):
        return None
    out = common_pb2.TransactionOptions()
    if read_concern is not None:
        level = read_concern if isinstance(read_concern, str) else getattr(read_concern, "level", None)
        out.read_concern.level = level or ""
    wc = write_concern_of(write_concern)
    if wc is not None:
        out.write_concern.CopyFrom(wc)
    rp = read_preference_of(read_preference, codec)
    if rp is not None:
        out.read_preference.CopyFrom(rp)
    if max_commit_time_ms is not None:
        out.max_commit_time.CopyFrom(duration_ms(max_commit_time_ms))
    if record_outcome is not None:
        out.record_outcome = bool(record_outcome)
    return out


__all__ = ["Codec", "DEFAULT_CODEC_OPTIONS", "WriteConcern", "document_pb2"]
