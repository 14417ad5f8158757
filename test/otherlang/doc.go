// Package otherlang proves that a program with no MongoDB driver and no Go
// can run a MongoDB transaction through mongogate: it starts the real server
// binary and runs the same scenario from Python (Debian's grpcio, stubs
// generated from proto/ by protoc) and from Node (@grpc/grpc-js, proto/
// loaded at run time by @grpc/proto-loader).
//
// Each scenario starts a session, inserts two documents in a transaction,
// checks that a reader without the session sees none of them, commits and
// sees both; then inserts two more in a second transaction, aborts it and
// checks they never become visible. The scripts are python/scenario.py and
// node/scenario.js; both take the server's address and can be run by hand:
//
//	/usr/bin/python3 test/otherlang/python/scenario.py 127.0.0.1:50051
//	node test/otherlang/node/scenario.js 127.0.0.1:50051
//
// The Python scenario stays on raw generated stubs on purpose: it proves a
// program needs nothing from this repository but proto/. The Python client
// (clients/python) has its own suite, run by test/pyclient.
//
// scripts/install-otherlang.sh installs what they need. Without it the
// tests skip, except under CI (CI set), where a missing tool fails them.
// The backend is an in-process emulator, or the replica set named by
// MONGOGATE_TEST_URI.
package otherlang
