"""What the tests need from their environment, set by test/pyclient:

MONGOGATE_ADDR          a mongogate server (gRPC host:port)
MONGOGATE_BACKEND_URI   its MongoDB (the emulator), for fail points
MONGOGATE_INSTANCES     host:port of two instances on one backend
MONGOGATE_METRICS       their /metrics URLs, in the same order

Tests that need a variable that is unset are skipped, unless
MONGOGATE_REQUIRE_ALL=1 (test/pyclient sets it), where they fail.
"""

import os
import re
import secrets
import unittest
import urllib.request


def need(name: str) -> str:
    v = os.environ.get(name, "")
    if not v:
        if os.environ.get("MONGOGATE_REQUIRE_ALL") == "1":
            raise AssertionError("%s is not set" % name)
        raise unittest.SkipTest("%s is not set (test/pyclient sets it)" % name)
    return v


def client(**kw):
    from mongogate import MongogateClient
    return MongogateClient(need("MONGOGATE_ADDR"), timeout=30, **kw)


def dbname(prefix: str = "py") -> str:
    return "%s_%s" % (prefix, secrets.token_hex(4))


def direct_backend():
    """A PyMongo client straight to the backend, for fail points."""
    import pymongo
    return pymongo.MongoClient(need("MONGOGATE_BACKEND_URI"), serverSelectionTimeoutMS=5000)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_sum(url: str, name: str) -> float:
    """The sum of every series of a metric on a /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            total += float(m.group(3))
    return total
