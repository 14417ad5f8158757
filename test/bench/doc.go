// Package bench measures mongogate against the floor of any proxy and
// against the MongoDB Go driver talking directly to the same backend, in
// one run, and prints one table of the figures behind DESIGN.md §7.
//
// Every side runs in this process against ONE backend: an in-process
// emulator, a cmd/emulator process of its own (-bench-backend process), or
// the deployment named by MONGOGATE_TEST_URI. The mongogate side is a
// server wired like cmd/server (sessions.New, txn.New, server.New with the
// outcome collection and mongogate's own collections refused,
// grpc.NewServer(server.ServerOptions(...)...), anonymous authentication,
// a text slog handler at info level writing to io.Discard) on a real
// loopback TCP listener, called through the Go client (clients/go, BSON
// documents). The client, the server and the emulator share the machine's
// cores, as do the driver and the emulator on the direct side. The whole
// process runs with cmd/server's garbage collection target, GOGC 400
// (every side alike), unless GOGC is set. Figures that write empty their
// collections before each round, and every round starts after a garbage
// collection, so that no round pays for what another left.
//
// Each figure has three columns, measured in alternating rounds (each
// round starts with another side, so drift of a noisy machine falls on
// all of them), and every latency and throughput figure has a row of the
// whole process's CPU time per operation, which depends much less on what
// else the machine runs:
//
//   - mongogate: the operation through the Go client and the server.
//   - floor: what a proxy that cost nothing would take. First, once per
//     figure, a probe client (the Go client with an interceptor that
//     notes proto.Size of each request and response) does the operation
//     and records its RPCs. The floor is then a bare grpc.Server on
//     loopback of its own (grpc-go defaults but mongogate's message size
//     limit) registering mongogate's method names through a hand-written
//     grpc.ServiceDesc, each answering a wrapperspb.BytesValue as large
//     as mongogate's response, called by a bare client (defaults but the
//     same limit) with a BytesValue as large as mongogate's request; one
//     floor operation makes those round trips in turn and then the direct
//     driver call. Where the length's varint leaves a gap, an unknown
//     varint field of 2 or 3 bytes makes up the size exactly; the "sizes"
//     notes under the table show mongogate's sizes (and the floor's, for
//     the one size no message can have, 1 byte).
//   - direct: the driver call alone.
//
// FindOne and InsertOne have a fourth side, the bare proxy
// (bareproxy_test.go): a grpc.Server with mongogate's transport tuning
// (server.Tuning) and driver client (backend.Connect) and no
// interceptors, whose DocumentService handler makes the one driver call
// and answers, called by the same Go client. Its rows
// ("via a bare proxy†") put it in the mongogate column against the floor:
// bare/floor is what the hop itself costs, and mongogate/bare what
// mongogate's own code adds to it.
//
// with mg/floor (the ratio the §7 targets are stated in) and mg−floor (the
// residual: what mongogate itself adds; for a rate, the difference of the
// inverse rates, the extra wall time per operation).
//
// Figures:
//
//   - An empty RPC (a health check) on mongogate's server through its
//     interceptor chain, and on a bare grpc.Server with no options in the
//     floor column: what the chain adds to any gRPC hop.
//   - FindOne by _id and InsertOne: p50/p99 latency at 1 client, ops/s at
//     64 clients. Floor: 1 round trip + the driver call.
//   - A transaction of 3 InsertOnes, at 1 client (latency) and 64 clients
//     (txn/s): direct Session.WithTransaction on a session kept per
//     client; mongogate by explicit RPCs on a session kept per client
//     (StartTransaction, 3 InsertOne with the token, CommitTransaction:
//     5 RPCs, StartSession/EndSession not counted, as on the direct side),
//     floor 5 round trips + the direct transaction; mongogate
//     RunTransaction without a token (1 RPC, the server uses a session of
//     its own), floor 1 round trip + the direct transaction.
//   - record_outcome: the transaction by explicit RPCs with record_outcome
//     (mongogate column) and without (floor column): mg/floor is the cost
//     of the record, at 1 client and 64.
//   - Forwarding: FindOne with a session token, at 1 client, sent to
//     another instance that forwards it to the session's owner (mongogate
//     column), to the owner (direct column), and, floor, to the owner
//     followed by one bare round trip of its sizes: mg/floor ≤ 1 means a
//     forwarded call costs at most one extra loopback round trip. Both
//     instances run the directory and forwarding as cmd/server does.
//   - StartSession+EndSession pairs/s at 64 clients. The direct pair never
//     leaves the driver (it takes a server session id from its pool and
//     gives it back); the floor is two round trips of StartSession's and
//     EndSession's sizes with that pair.
//   - Idle state, on a gate of its own whose session limits are raised to
//     hold N sessions (N = -bench-sessions, 1,000,000 by default; 1,000
//     in the smoke run), opened by the StartSession RPC from 16 goroutines
//     on a fresh server (so its driver's session pool is empty, as on a
//     new production server):
//     heap per session and of all N (HeapAlloc after GC, before and after
//     adding them, divided by the sessions added; the direct column is
//     the driver's own share, N mongo.Session held with no mongogate —
//     explicit driver sessions take their server session id from the
//     pool when they start);
//     lookup: FindOne-with-token p50 at 1 client cycling over 100 of the
//     N sessions, in rounds alternating with a second gate that holds only
//     100 sessions (target N/100 ≤ 1.2);
//     reaper: the first -bench-expiry-window × 1% × N sessions added (10 s:
//     10% of N) have idle timeouts that put their expiry, evenly spread,
//     in a window of that length 15 minutes after they were opened on the
//     gate's clock; the other sessions idle for 25 minutes. Once the heap
//     and lookup figures are done, the figure measures the process's CPU
//     over a quiet span as long as the window, moves the gate's clock 15
//     minutes ahead to just before the window (so no real wait), and
//     measures the process's CPU from the window's start until the last of
//     them has expired; the reaper's figure is the difference (its own
//     work, its driver EndSession calls and the garbage collection they
//     cause), as a share of one core and per expired session.
//
// Three ways to run it:
//
//	go test ./test/bench -run TestBenchSmoke -v
//
// is the smoke run that CI runs with everything else: a few hundred
// operations per figure and 1,000 sessions for the idle figures, in well
// under 20 s. It checks only that every operation succeeded and that the
// table was printed, never a time: timings on a shared CI machine prove
// nothing (STYLE.md rule 8).
//
//	go test ./test/bench -run TestBenchFull -bench-full -v -timeout 40m
//
// (or MONGOGATE_BENCH_FULL=1 instead of -bench-full) is the full run:
// 20 rounds per side of -bench-dur/20 each (default 10 s per side per
// figure; this machine's speed swings by a quarter within seconds, and
// short alternating rounds spread those swings evenly over the sides),
// 1,000,000 idle sessions (-bench-sessions) and a 10 s expiry window
// (-bench-expiry-window). About 12 minutes on 2 cores: 33 sides of
// -bench-dur each (about 5 minutes), emptying the collections and
// collecting the heap before each of their rounds, the lookup's
// -bench-dur, and about 2 minutes for the idle figures (opening 1,000,000
// sessions at about 22,000/s, holding as many driver sessions, twice the
// expiry window, and ending the sessions at cleanup). Documents written by a
// figure are dropped after it: the emulator keeps them on this process's
// heap, where they would slow the garbage collector for every later
// figure. To keep the emulator out of this process, run cmd/emulator and
// point MONGOGATE_TEST_URI at it
// (mongodb://127.0.0.1:PORT/?directConnection=true); the CPU rows then
// leave the backend out.
//
//	go test ./test/bench -run TestBenchPython -bench-python -v
//
// (or MONGOGATE_BENCH_PYTHON=1, or -bench-full) runs python/compare.py in
// full: FindOne by _id and InsertOne from Python at 1 client, through
// mongogate (Debian's grpcio, stubs generated from proto/ by protoc, BSON
// documents) and with PyMongo (Debian's python3-pymongo 3.11 with its C
// extensions), against one in-process emulator and a gate wired as above,
// in 5 alternating rounds of -bench-dur/5 per side: p50, p99 and ops/s of
// each side, mongogate/PyMongo, and what an empty RPC costs from grpcio.
// PyMongo 3.11 speaks wire versions up to 9 (MongoDB 4.4); the emulator
// reports 0 to 21, so they agree on 9. About a minute. Without the flag
// TestBenchPython runs a few hundred operations per side, to prove the
// script works; it skips when scripts/install-otherlang.sh has not been
// run (and fails under CI, which runs it).
//
// -bench-run REGEXP keeps only the measurements whose "figure/side"
// matches (sides: mongogate, floor, direct, "bare proxy"; in the transaction figures
// "mongogate explicit", "floor explicit", "mongogate RunTransaction",
// "floor RunTransaction", direct), which with -cpuprofile or -memprofile
// profiles one path alone:
//
//	go test ./test/bench -run TestBenchFull -bench-full -v \
//	    -bench-run 'FindOne.*64 clients/mongogate' -cpuprofile cpu.out
//	go tool pprof -top -cum bench.test cpu.out
//
// (go test leaves bench.test and cpu.out in the current directory.)
//
// The verdict column compares with the §7 targets for information only;
// nothing fails on it.
package bench
