// Package bench measures mongogate against the MongoDB Go driver talking
// directly to the same backend, in one run, and prints one table of the
// figures behind DESIGN.md §7 with the ratio mongogate/direct of each.
//
// Both sides run in this process against ONE backend: an in-process
// emulator, or the deployment named by MONGOGATE_TEST_URI. The mongogate
// side is a server wired like cmd/server (sessions.New, txn.New,
// server.New, grpc.NewServer(server.ServerOptions(...)...), anonymous
// authentication, a text slog handler at info level writing to
// io.Discard) on a real loopback TCP listener, called through the Go client
// (clients/go, BSON documents). The client, the server and the emulator
// share the machine's cores, as do the driver and the emulator on the
// direct side.
//
// Figures (each side measured in alternating rounds, so drift of a noisy
// machine falls on both; every latency and throughput figure has a row of
// the whole process's CPU time per operation, which depends much less on
// what else the machine runs):
//
//   - An empty RPC (a health check) on a bare grpc.Server (in the direct
//     column) and on mongogate's server through its interceptor chain: the
//     floor any gRPC hop costs here, and what the chain adds to it.
//   - FindOne by _id: p50/p99 latency at 1 client, ops/s at 64 clients.
//   - InsertOne: p50/p99 latency at 1 client, ops/s at 64 clients.
//   - A transaction of 3 InsertOnes, at 1 client (latency) and 64 clients
//     (txn/s): direct Session.WithTransaction on a session kept per
//     client; mongogate explicit RPCs on a session kept per client
//     (StartTransaction, 3 InsertOne with the token, CommitTransaction:
//     5 RPCs, StartSession/EndSession not counted, as on the direct side);
//     mongogate RunTransaction without a token (1 RPC, the server uses a
//     session of its own).
//   - StartSession+EndSession pairs/s at 64 clients. On the direct side
//     both are local to the driver (no round trip), so the ratio only
//     shows what the RPCs cost.
//   - Heap per idle session: N sessions opened by the StartSession RPC on
//     a fresh server (so its driver's session pool is empty), heap delta
//     after GC divided by the sessions added; the direct column is the
//     driver's own share (N mongo.Session held, no mongogate). The
//     explicit driver sessions take their server session id (lsid) from
//     the driver's pool when they start, not lazily; MongoDB itself only
//     learns of a session when a command carries its lsid. And
//     FindOne-with-token p50 cycling over 100 of the N sessions, in rounds
//     alternating with a second server that holds only 100 sessions: the
//     registry lookup must stay O(1).
//
// Two ways to run it:
//
//	go test ./test/bench -run TestBenchSmoke -v
//
// is the smoke run that CI runs with everything else: a few hundred
// operations per figure and 1,000 sessions for the heap figure, in well
// under 20 s. It checks only that every operation succeeded and that the
// table was printed, never a time: timings on a shared CI machine prove
// nothing (STYLE.md rule 8).
//
//	go test ./test/bench -run TestBenchFull -bench-full -v -timeout 30m
//
// (or MONGOGATE_BENCH_FULL=1 instead of -bench-full) is the full run:
// 5 rounds per side of -bench-dur/5 each (default 10 s per side per
// figure) and 100,000 sessions for the heap figure; about 4 minutes on
// 2 cores. Documents written by a figure are dropped after it: the
// emulator keeps them on this process's heap, where they would slow the
// garbage collector for every later figure. To keep the emulator out of
// this process, run cmd/emulator and point MONGOGATE_TEST_URI at it
// (mongodb://127.0.0.1:PORT/?directConnection=true); the CPU rows then
// leave the backend out.
//
// -bench-run REGEXP keeps only the measurements whose "figure/side"
// matches, which with -cpuprofile or -memprofile profiles one path alone:
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
