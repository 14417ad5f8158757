"""The generated modules (mongogate/_gen, made by scripts/gen.sh)."""

from ._gen.mongogate.v1 import common_pb2  # noqa: F401
from ._gen.mongogate.v1 import document_pb2  # noqa: F401
from ._gen.mongogate.v1 import document_pb2_grpc  # noqa: F401
from ._gen.mongogate.v1 import session_pb2  # noqa: F401
from ._gen.mongogate.v1 import session_pb2_grpc  # noqa: F401
from ._gen.mongogate.v1 import transaction_pb2  # noqa: F401
from ._gen.mongogate.v1 import transaction_pb2_grpc  # noqa: F401
