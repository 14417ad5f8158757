"""MongogateClient and Database."""

import ipaddress
import threading
import time
from typing import Any, Iterable, List, Optional, Union

import grpc

from ._codec import Codec, duration_s, transaction_options_of
from ._keepalive import Keeper
from ._pb import (document_pb2_grpc, session_pb2, session_pb2_grpc, transaction_pb2,
                  transaction_pb2_grpc)
from .errors import (ClientClosed, MongogateError, SessionExpired, SessionNotFound,
                     from_rpc_error)
from .results import RunTransactionResult
from .session import ClientSession, TransactionOptions

#: Matches the server's default limit: a 16 MiB document fits in a
#: response with room to spare (gRPC's default, 4 MiB, would not).
MAX_MESSAGE_SIZE = 32 << 20

#: Bounds the calls the client makes on its own behalf in close().
CLEANUP_TIMEOUT = 10.0

_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class _Stubs:
    """A channel to one server address and the service stubs on it."""

    def __init__(self, channel: grpc.Channel, track: bool = False):
        self.channel = channel
        self.sessions = session_pb2_grpc.SessionServiceStub(channel)
        self.txns = transaction_pb2_grpc.TransactionServiceStub(channel)
        self.docs = document_pb2_grpc.DocumentServiceStub(channel)
        self.state = None
        if track:
            channel.subscribe(self._on_state, try_to_connect=False)

    def _on_state(self, state):
        self.state = state

    def unreachable(self, err: grpc.RpcError) -> bool:
        """Whether a call failed because no connection to the instance
        could be made, so that it never left the client."""
        if err.code() != grpc.StatusCode.UNAVAILABLE or from_rpc_error(err).reason:
            return False
        return self.state == grpc.ChannelConnectivity.TRANSIENT_FAILURE


def _is_loopback(target: str) -> bool:
    if target.startswith(("unix:", "unix-abstract:")):
        return True
    for scheme in ("dns:///", "passthrough:///", "ipv4:", "ipv6:", "dns:", "passthrough:"):
        if target.startswith(scheme):
            target = target[len(scheme):]
            break
    hosts = []
    for part in target.split(","):
        host = part
        if part.startswith("["):
            host = part[1:part.find("]")]
        elif part.count(":") == 1:
            host = part.rsplit(":", 1)[0]
        hosts.append(host)
    for host in hosts:
        if host == "localhost":
            continue
        try:
            if not ipaddress.ip_address(host).is_loopback:
                return False
        except ValueError:
            return False
    return True


class MongogateClient:
    """A connection to a mongogate server, in PyMongo's style::

        client = MongogateClient("127.0.0.1:50051")
        client["shop"]["orders"].insert_one({"sku": "A1", "qty": 2})

    Args:
        address: a gRPC target, e.g. ``"localhost:50051"`` or
            ``"dns:///mongogate.internal:443"``.
        api_key: sent as ``authorization: Bearer <key>`` on every call.
        instances: per-instance routing. None (the default): every call
            goes to ``address``, and an instance that does not hold a
            session forwards its calls to the one that does. A list of
            instance addresses (``host:port``, as the servers advertise
            them): a session owned by one of them sends its calls straight
            to it. True: any address a session advertises may be dialed.
        tls: None chooses plaintext for loopback addresses and TLS with
            the system's roots otherwise; False forces plaintext, True
            forces TLS, or pass ``grpc.ssl_channel_credentials(...)``.
        timeout: seconds bounding every call (for find and aggregate, the
            whole stream); None leaves calls unbounded.
        keep_alive_interval: seconds between a session's refreshes; None
            means a third of its idle timeout, 0 or less disables them.
        codec_options: ``bson.codec_options.CodecOptions`` for decoding and
            encoding documents (default: dict, naive UTC datetimes,
            standard UUIDs).
        channel_options: extra gRPC channel options (pairs).

    The client is thread-safe; create one and share it. close() it (or use
    it as a context manager) when done.
    """

    def __init__(self, address: str, api_key: Optional[str] = None,
                 instances: Union[None, bool, Iterable[str]] = None, *,
                 tls: Union[None, bool, grpc.ChannelCredentials] = None,
                 timeout: Optional[float] = None,
                 keep_alive_interval: Optional[float] = None,
                 codec_options=None,
                 channel_options: Optional[List] = None):
        self.address = address
        if tls is None:
            tls = not _is_loopback(address)
        if tls is True:
            tls = grpc.ssl_channel_credentials()
        self._creds = tls or None
        self._options = [("grpc.max_receive_message_length", MAX_MESSAGE_SIZE),
                         ("grpc.max_send_message_length", MAX_MESSAGE_SIZE)] + list(channel_options or [])
        self._metadata = (("authorization", "Bearer " + api_key),) if api_key else None
        self._timeout = timeout
        self._keep_alive_interval = keep_alive_interval
        self._codec = Codec(codec_options)
        if instances is None or instances is False:
            self._instances = None
        elif instances is True:
            self._instances = True
        else:
            self._instances = frozenset(instances)
        self._main = _Stubs(self._dial(address))
        self._peers = {}
        self._lock = threading.Lock()
        self._live = set()
        self._closed = False
        self._closed_channels = False
        self._keeper = Keeper(self._keep_alive)

    # -- plumbing ---------------------------------------------------------

    def _dial(self, target: str) -> grpc.Channel:
        if self._creds is not None:
            return grpc.secure_channel(target, self._creds, options=self._options)
        return grpc.insecure_channel(target, options=self._options)

    @property
    def channel(self) -> grpc.Channel:
        """The gRPC channel to ``address`` (for the generated stubs)."""
        return self._main.channel

    @property
    def codec_options(self):
        return self._codec.options

    def _peer(self, addr: str) -> _Stubs:
        """The stubs for a session owned by the instance at addr."""
        if not addr or self._instances is None or addr == self.address:
            return self._main
        if self._instances is not True and addr not in self._instances:
            return self._main
        with self._lock:
            if self._closed:
                return self._main
            p = self._peers.get(addr)
            if p is None:
                p = self._peers[addr] = _Stubs(self._dial(addr), track=True)
            return p

    def _unary(self, stubs: _Stubs, service: str, method: str, req, timeout=None):
        if self._closed:
            raise ClientClosed("client is closed")
        t = self._timeout if timeout is None else timeout
        try:
            return getattr(getattr(stubs, service), method)(req, timeout=t, metadata=self._metadata)
        except grpc.RpcError as err:
            if stubs is not self._main and stubs.unreachable(err):
                # The call never left: any instance forwards it.
                try:
                    return getattr(getattr(self._main, service), method)(req, timeout=t, metadata=self._metadata)
                except grpc.RpcError as err2:
                    raise from_rpc_error(err2) from None
            raise from_rpc_error(err) from None

    def _stream(self, stubs: _Stubs, method: str, req):
        """Starts a server stream; returns (call, fallback for Cursor)."""
        if self._closed:
            raise ClientClosed("client is closed")
        kw = {"timeout": self._timeout, "metadata": self._metadata}
        call = getattr(stubs.docs, method)(req, **kw)
        fallback = None
        if stubs is not self._main:
            def fallback(err):
                if stubs.unreachable(err):
                    return getattr(self._main.docs, method)(req, **kw)
                return None
        return call, fallback

    def _keep_alive(self, session: ClientSession, timeout: float) -> bool:
        if session.has_ended or self._closed:
            return False
        try:
            self._unary(session._stubs, "sessions", "RefreshSession",
                        session_pb2.RefreshSessionRequest(session_token=session._token), timeout)
        except (SessionNotFound, SessionExpired):
            return False
        except MongogateError:
            pass
        return True

    def _forget(self, s: ClientSession) -> None:
        with self._lock:
            self._live.discard(s)

    # -- API --------------------------------------------------------------

    def __getitem__(self, name: str) -> "Database":
        return Database(self, name)

    def __getattr__(self, name: str) -> "Database":
        if name.startswith("_"):
            raise AttributeError(name)
        return Database(self, name)

    def get_database(self, name: str, backend: Optional[str] = None, write_concern=None) -> "Database":
        """A database on backend (the server's named MongoDB deployment;
        None: "default", or the session's)."""
        return Database(self, name, backend, write_concern)

    def start_session(self, backend: Optional[str] = None, causal_consistency: Optional[bool] = None,
                      snapshot: bool = False, idle_timeout: Optional[float] = None,
                      default_transaction_options: Optional[TransactionOptions] = None,
                      keep_alive_interval: Optional[float] = None) -> ClientSession:
        """Starts a session on the server; ``with client.start_session() as
        s:`` ends it. idle_timeout is in seconds (None: the server's)."""
        if self._closed:
            raise ClientClosed("client is closed")
        req = session_pb2.StartSessionRequest(client=backend or "")
        o = req.options
        if causal_consistency is not None:
            o.causal_consistency = causal_consistency
        o.snapshot = snapshot
        if idle_timeout is not None:
            o.idle_timeout.CopyFrom(duration_s(idle_timeout))
        if default_transaction_options is not None:
            to = transaction_options_of(self._codec, **default_transaction_options._kwargs())
            if to is not None:
                o.default_transaction_options.CopyFrom(to)
        ps = self._unary(self._main, "sessions", "StartSession", req).session
        interval = self._keep_alive_interval if keep_alive_interval is None else keep_alive_interval
        s = ClientSession(self, ps, self._peer(ps.instance_address), interval)
        with self._lock:
            closed = self._closed
            if not closed:
                self._live.add(s)
        if closed:
            s.end_session()
            raise ClientClosed("client is closed")
        return s

    def run_transaction(self, ops: List, session: Optional[ClientSession] = None,
                        read_concern=None, write_concern=None, read_preference=None,
                        max_commit_time_ms=None, time_limit: Optional[float] = None) -> RunTransactionResult:
        """Runs ops atomically in one transaction, in one round trip, with
        with_transaction's retries done by the server until time_limit
        seconds (default 120). ops come from the collections' ``*_op``
        methods (``coll.insert_one_op(doc)``, ...), all of one backend. It
        runs in session, which must have no transaction open, or else in a
        session of its own. If an operation fails for good nothing is
        written and its error is raised; ``err.operation_index`` says which.
        """
        if not ops:
            raise ValueError("run_transaction needs at least one operation")
        backend = ops[0].collection.database.backend
        req = transaction_pb2.RunTransactionRequest(client=backend or "", response_format=3)
        for i, op in enumerate(ops):
            c = op.collection
            if c.database.client is not self:
                raise ValueError("ops[%d] is on a collection of another client" % i)
            if c.database.backend != backend:
                raise ValueError("ops[%d] uses backend %r, ops[0] %r" % (i, c.database.backend, backend))
            req.operations.append(op.op)
        stubs = self._main
        if session is not None:
            stubs = session._stubs_for(self)
            req.session_token = session._token
        to = transaction_options_of(self._codec, read_concern, write_concern, read_preference,
                                    max_commit_time_ms)
        if to is not None:
            req.options.CopyFrom(to)
        if time_limit is not None:
            req.timeout.CopyFrom(duration_s(time_limit))
        resp = self._unary(stubs, "txns", "RunTransaction", req)
        if len(resp.results) != len(ops):
            raise MongogateError("RunTransaction returned %d results for %d operations"
                                 % (len(resp.results), len(ops)))
        results = [op.result(r) for op, r in zip(ops, resp.results)]
        return RunTransactionResult(results, resp.transaction_number, resp.attempts)

    def ping(self, timeout: float = 5.0) -> None:
        """Checks that the server answers and serves (its gRPC health
        check); raises BackendUnavailable-like MongogateError otherwise."""
        if self._closed:
            raise ClientClosed("client is closed")
        check = self._main.channel.unary_unary(_HEALTH_CHECK, request_serializer=lambda _: b"",
                                               response_deserializer=lambda b: b)
        try:
            raw = check(None, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        # HealthCheckResponse{status = 1}; SERVING is 1.
        if raw[:2] != b"\x08\x01":
            raise MongogateError("server is not serving", grpc.StatusCode.UNAVAILABLE)

    def close(self) -> None:
        """Ends the sessions the program still holds (aborting their open
        transactions, never committing them), stops the keep-alive and
        closes the channels. Ending sessions is best effort within about
        10 s. Idempotent."""
        with self._lock:
            if self._closed:
                return
            live = list(self._live)
        deadline = time.monotonic() + CLEANUP_TIMEOUT
        for s in live:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with s._lock:
                if s._ended:
                    continue
                s._ended = True
            try:
                self._unary(s._stubs, "sessions", "EndSession",
                            session_pb2.EndSessionRequest(session_token=s._token), min(left, 5.0))
            except MongogateError:
                pass
        with self._lock:
            self._closed = True
            peers, self._peers = list(self._peers.values()), {}
        self._keeper.close()
        self._closed_channels = True
        for p in peers:
            p.channel.close()
        self._main.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "MongogateClient(%r)" % self.address


class Database:
    """A database on one backend; it does not call the server."""

    def __init__(self, client: MongogateClient, name: str, backend: Optional[str] = None, write_concern=None):
        self.client, self.name, self.backend, self.write_concern = client, name, backend, write_concern

    def __getitem__(self, name: str):
        return self.get_collection(name)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get_collection(name)

    def get_collection(self, name: str, write_concern=None):
        from .collection import Collection
        return Collection(self, name, write_concern if write_concern is not None else self.write_concern)

    def __repr__(self):
        return "Database(%r, %r)" % (self.client, self.name)

    def __eq__(self, other):
        return isinstance(other, Database) and (other.client, other.name, other.backend) == (
            self.client, self.name, self.backend)

    def __hash__(self):
        return hash((id(self.client), self.name, self.backend))
