"""google.rpc.Status and its details, read from a gRPC error's trailers.

A failed mongogate call carries a serialized google.rpc.Status in the
``grpc-status-details-bin`` trailer. Its details are google.protobuf.Any
values holding ErrorInfo, RetryInfo and BadRequest. Those messages are not
in the protobuf runtime, and googleapis-common-protos is not packaged by
Debian, so this module reads the few fields it needs straight from the
protobuf wire format, which is stable across every protobuf release.
"""

from typing import Dict, List, NamedTuple, Optional, Tuple

STATUS_DETAILS_KEY = "grpc-status-details-bin"

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class ErrorDetails(NamedTuple):
    """What the details of a google.rpc.Status say."""

    code: int = 0
    message: str = ""
    domain: str = ""
    reason: str = ""
    metadata: Dict[str, str] = {}
    retry_delay: Optional[float] = None  # seconds
    violations: Tuple[Tuple[str, str], ...] = ()  # (field, description)


def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes):
    """Yields (field number, wire type, value) of a serialized message:
    an int for varints and fixed-size fields, bytes for length-delimited
    ones."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated field")
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, v


def _str(v) -> str:
    return bytes(v).decode("utf-8", "replace")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_status(data: bytes) -> ErrorDetails:
    """Reads a serialized google.rpc.Status; the first ErrorInfo wins."""
    code, message = 0, ""
    domain = reason = ""
    metadata: Dict[str, str] = {}
    retry: Optional[float] = None
    violations: List[Tuple[str, str]] = []
    seen_info = False
    for num, wt, v in _fields(data):
        if num == 1 and wt == 0:
            code = _signed(v)
        elif num == 2 and wt == 2:
            message = _str(v)
        elif num == 3 and wt == 2:
            type_url, value = "", b""
            for n, w, x in _fields(v):
                if n == 1 and w == 2:
                    type_url = _str(x)
                elif n == 2 and w == 2:
                    value = bytes(x)
            if type_url == _ERROR_INFO and not seen_info:
                seen_info = True
                for n, w, x in _fields(value):
                    if n == 1 and w == 2:
                        reason = _str(x)
                    elif n == 2 and w == 2:
                        domain = _str(x)
                    elif n == 3 and w == 2:
                        k = val = ""
                        for n2, w2, y in _fields(x):
                            if n2 == 1 and w2 == 2:
                                k = _str(y)
                            elif n2 == 2 and w2 == 2:
                                val = _str(y)
                        metadata[k] = val
            elif type_url == _RETRY_INFO:
                secs = nanos = 0
                for n, w, x in _fields(value):
                    if n == 1 and w == 2:  # retry_delay: Duration
                        for n2, w2, y in _fields(x):
                            if n2 == 1 and w2 == 0:
                                secs = _signed(y)
                            elif n2 == 2 and w2 == 0:
                                nanos = _signed(y)
                retry = secs + nanos / 1e9
            elif type_url == _BAD_REQUEST:
                for n, w, x in _fields(value):
                    if n == 1 and w == 2:
                        field = desc = ""
                        for n2, w2, y in _fields(x):
                            if n2 == 1 and w2 == 2:
                                field = _str(y)
                            elif n2 == 2 and w2 == 2:
                                desc = _str(y)
                        violations.append((field, desc))
    return ErrorDetails(code, message, domain, reason, metadata, retry, tuple(violations))


# Encoding, for tests that fabricate errors.

def _enc_varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_field(num: int, v) -> bytes:
    if isinstance(v, int):
        return _enc_varint(num << 3) + _enc_varint(v)
    if isinstance(v, str):
        v = v.encode()
    return _enc_varint(num << 3 | 2) + _enc_varint(len(v)) + v


def encode_status(code: int, message: str, reason: str = "", domain: str = "mongogate.dev",
                  metadata: Optional[Dict[str, str]] = None,
                  retry_delay: Optional[float] = None) -> bytes:
    """Serializes a google.rpc.Status with an ErrorInfo (and a RetryInfo)."""
    out = _enc_field(1, code) + _enc_field(2, message)
    if reason:
        info = _enc_field(1, reason) + _enc_field(2, domain)
        for k, val in sorted((metadata or {}).items()):
            info += _enc_field(3, _enc_field(1, k) + _enc_field(2, val))
        out += _enc_field(3, _enc_field(1, _ERROR_INFO) + _enc_field(2, info))
    if retry_delay is not None:
        secs = int(retry_delay)
        dur = _enc_field(1, secs) + _enc_field(2, int((retry_delay - secs) * 1e9))
        out += _enc_field(3, _enc_field(1, _RETRY_INFO) + _enc_field(2, _enc_field(1, dur)))
    return out
