#!/usr/bin/python3
"""Moves money between two accounts in a mongogate transaction.

    /usr/bin/python3 examples/python/transfer.py [ADDRESS]

ADDRESS is a mongogate server (default: $MONGOGATE_ADDRESS, else
localhost:50051; `go run ./cmd/server` starts one with an in-memory
backend). Run it from the repository root, or with clients/python on
PYTHONPATH or the package installed.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))

from bson import Decimal128  # noqa: E402

import mongogate  # noqa: E402
from mongogate import MongogateClient, TransactionOutcome  # noqa: E402


def main() -> int:
    address = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MONGOGATE_ADDRESS", "localhost:50051")
    with MongogateClient(address, timeout=30) as client:
        accounts = client["example_bank"]["accounts"]
        accounts.delete_many({})
        accounts.insert_many([
            {"_id": "alice", "balance": Decimal128("100.00")},
            {"_id": "bob", "balance": Decimal128("0.00")},
        ])

        def transfer(session, amount=Decimal128("30.00")):
            src = accounts.find_one({"_id": "alice"}, session=session)
            if src["balance"].to_decimal() < amount.to_decimal():
                raise ValueError("insufficient funds")
            accounts.update_one({"_id": "alice"}, {"$inc": {"balance": Decimal128("-" + str(amount))}}, session=session)
            accounts.update_one({"_id": "bob"}, {"$inc": {"balance": amount}}, session=session)
            return amount

        with client.start_session() as session:
            moved = session.with_transaction(transfer)
            print("moved", moved, "in transaction", session.transaction_number,
                  TransactionOutcome(session.transaction_outcome()).name)

        try:
            accounts.insert_one({"_id": "alice"})
        except mongogate.DuplicateKey as e:
            print("as expected:", e.reason, e.mongo_code)

        for doc in accounts.find({}, sort="_id"):
            print(doc["_id"], doc["balance"])
        total = sum(d["balance"].to_decimal() for d in accounts.find())
        assert total == 100, total  # money is neither made nor lost
    return 0


if __name__ == "__main__":
    sys.exit(main())
