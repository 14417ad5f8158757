package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	mongogate "github.com/mongogate/mongogate/clients/go"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// seeded is the number of documents FindOne reads from.
const seeded = 1_000

// payload makes each document about 150 bytes of BSON.
var payload = strings.Repeat("x", 64)

// TestBenchSmoke runs every figure briefly: it checks that each operation
// succeeds on both sides and that the table prints, and asserts nothing
// about time.
func TestBenchSmoke(t *testing.T) {
	tb := run(t, smokePlan())
	if err := tb.complete(); err != nil {
		t.Fatal(err)
	}
}

// TestBenchFull is the benchmark proper; see the package comment.
func TestBenchFull(t *testing.T) {
	if !fullRun() {
		t.Skip("the full benchmark runs with -bench-full or MONGOGATE_BENCH_FULL=1 (see package doc)")
	}
	run(t, fullPlan(t))
}

// run measures every figure with p and prints the table.
func run(t *testing.T, p plan) *table {
	ctx := context.Background()
	e := newEnv(t)
	mode := "smoke"
	if p.dur > 0 {
		mode = fmt.Sprintf("full, %d rounds × %v per side", p.rounds, p.dur)
	}
	backend := "in-process emulator"
	if testbackend.External() {
		backend = testbackend.EnvURI
	}
	tb := &table{title: fmt.Sprintf("mongogate benchmark (%s; backend: %s; GOMAXPROCS=%d; %d clients for throughput)",
		mode, backend, runtime.GOMAXPROCS(0), p.clients)}
	if testbackend.External() {
		tb.notes = append(tb.notes, "CPU per op: this process only; the backend's own CPU is not counted")
	}
	defer tb.print(os.Stdout)

	grpcFloorFigures(ctx, t, p, e, tb)
	findOneFigures(ctx, t, p, e, tb)
	insertOneFigures(ctx, t, p, e, tb)
	transactionFigures(ctx, t, p, e, tb)
	sessionPairFigure(ctx, t, p, e, tb)
	heapFigures(ctx, t, p, e, tb)
	return tb
}

// grpcFloorFigures measures a unary RPC that does no work (a health
// check) on a bare grpc.Server and on mongogate's, whose interceptor chain
// it passes (logging, metrics, recovery; authentication skips it): the
// first is what any gRPC hop costs here, the difference is the chain's.
func grpcFloorFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	bare := startBare(t)
	gate := e.gate.health(t)
	req := &healthpb.HealthCheckRequest{}
	sides := []side{
		{"bare", func(ctx context.Context, _ int) error {
			_, err := bare.Check(ctx, req)
			return err
		}},
		{"mongogate", func(ctx context.Context, _ int) error {
			_, err := gate.Check(ctx, req)
			return err
		}},
	}
	fig := "Empty RPC*, 1 client"
	r := measure(ctx, t, p, fig, 1, sides...)
	tb.latencyRows(fig, r[0], r[1], 0)
	fig = fmt.Sprintf("Empty RPC*, %d clients", p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "ops/s", r[0], r[1], 0)
	tb.notes = append(tb.notes, "* a health check: direct column on a bare grpc.Server, mongogate column on mongogate's server through its interceptor chain")
}

func findOneFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	docs := make([]any, seeded)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprintf("user-%d", i)}, {Key: "n", Value: i}, {Key: "payload", Value: payload}}
	}
	if _, err := e.direct.Database(e.db).Collection("users").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	direct := e.direct.Database(e.db).Collection("users")
	gate := e.mg.Database(e.db).Collection("users")
	sides := []side{
		{"direct", func(ctx context.Context, _ int) error {
			_, err := direct.FindOne(ctx, bson.D{{Key: "_id", Value: rand.N(seeded)}}).Raw()
			return err
		}},
		{"mongogate", func(ctx context.Context, _ int) error {
			_, err := gate.FindOne(ctx, bson.D{{Key: "_id", Value: rand.N(seeded)}}).Raw()
			return err
		}},
	}
	fig := "FindOne by _id, 1 client"
	r := measure(ctx, t, p, fig, 1, sides...)
	tb.latencyRows(fig, r[0], r[1], 1.5)
	fig = fmt.Sprintf("FindOne by _id, %d clients", p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "ops/s", r[0], r[1], 0.6)
}

// newDoc is the document of an insert: no _id, so that each side adds one
// as it would for an application.
func newDoc(n int64) bson.D {
	return bson.D{{Key: "n", Value: n}, {Key: "name", Value: "user"}, {Key: "payload", Value: payload}}
}

func insertOneFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	// Each side writes its own collection, so both insert into collections
	// that grow alike.
	direct := e.direct.Database(e.db).Collection("insert_direct")
	gate := e.mg.Database(e.db).Collection("insert_mongogate")
	var seq atomic.Int64
	sides := []side{
		{"direct", func(ctx context.Context, _ int) error {
			_, err := direct.InsertOne(ctx, newDoc(seq.Add(1)))
			return err
		}},
		{"mongogate", func(ctx context.Context, _ int) error {
			_, err := gate.InsertOne(ctx, newDoc(seq.Add(1)))
			return err
		}},
	}
	fig := "InsertOne, 1 client"
	r := measure(ctx, t, p, fig, 1, sides...)
	tb.latencyRows(fig, r[0], r[1], 0)
	fig = fmt.Sprintf("InsertOne, %d clients", p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "ops/s", r[0], r[1], 0.6)
	drop(ctx, t, e, "insert_direct", "insert_mongogate")
}

// drop removes what a figure wrote. The in-process emulator keeps every
// document on this process's heap, where it would make garbage collection
// (and so every later figure, on both sides) slower.
func drop(ctx context.Context, t *testing.T, e *env, names ...string) {
	for _, n := range names {
		if err := e.direct.Database(e.db).Collection(n).Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// transactionFigures: a transaction of three InsertOnes. The direct side
// and mongogate's explicit RPCs keep one session per client for the whole
// figure (as an application would), so neither counts starting and ending
// sessions; RunTransaction is called without a token, its one RPC does
// everything.
func transactionFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	const perTxn = 3
	directColl := e.direct.Database(e.db).Collection("txn_direct")
	gateColl := e.mg.Database(e.db).Collection("txn_mongogate")
	runColl := e.mg.Database(e.db).Collection("txn_run")
	// Collections must exist before a transaction inserts into them on
	// MongoDB before 4.4; create them outside the figures.
	for _, name := range []string{"txn_direct", "txn_mongogate", "txn_run"} {
		if err := e.direct.Database(e.db).CreateCollection(ctx, name); err != nil {
			t.Fatal(err)
		}
	}

	directSess := make([]*mongo.Session, p.clients)
	gateSess := make([]*mongogate.Session, p.clients)
	for c := range p.clients {
		s, err := e.direct.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		directSess[c] = s
		gs, err := e.mg.StartSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gateSess[c] = gs
	}
	defer func() {
		for c := range p.clients {
			directSess[c].EndSession(ctx)
			if err := gateSess[c].End(ctx); err != nil {
				t.Errorf("end session: %v", err)
			}
		}
	}()

	var seq atomic.Int64
	sides := []side{
		{"direct", func(ctx context.Context, c int) error {
			_, err := directSess[c].WithTransaction(ctx, func(ctx context.Context) (any, error) {
				for range perTxn {
					if _, err := directColl.InsertOne(ctx, newDoc(seq.Add(1))); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
			return err
		}},
		{"mongogate explicit", func(ctx context.Context, c int) error {
			s := gateSess[c]
			if err := s.StartTransaction(ctx); err != nil {
				return err
			}
			sctx := mongogate.NewSessionContext(ctx, s)
			for range perTxn {
				if _, err := gateColl.InsertOne(sctx, newDoc(seq.Add(1))); err != nil {
					return errors.Join(err, s.AbortTransaction(ctx))
				}
			}
			return s.CommitTransaction(ctx)
		}},
		{"mongogate RunTransaction", func(ctx context.Context, _ int) error {
			ops := make([]mongogate.TxnOp, perTxn)
			for i := range ops {
				ops[i] = runColl.InsertOneOp(newDoc(seq.Add(1)))
			}
			_, err := e.mg.RunTransaction(ctx, ops)
			return err
		}},
	}
	tb.notes = append(tb.notes, "txn: direct = Session.WithTransaction on a session kept per client; "+
		"explicit RPCs = StartTransaction, 3 InsertOne with the token, CommitTransaction (5 RPCs) on a session kept per client; "+
		"RunTransaction = 1 RPC without a token (the server uses a session of its own)")
	fig := "Txn 3×InsertOne, 1 client"
	r := measure(ctx, t, p, fig, 1, sides...)
	for i, name := range []string{"explicit RPCs", "RunTransaction"} {
		f := fig + ", " + name
		tb.latencyRows(f, r[0], r[1+i], 0)
	}
	fig = fmt.Sprintf("Txn 3×InsertOne, %d clients", p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	for i, name := range []string{"explicit RPCs", "RunTransaction"} {
		tb.rateRow(fig+", "+name, "txn/s", r[0], r[1+i], 0)
	}
	drop(ctx, t, e, "txn_direct", "txn_mongogate", "txn_run")
}

// sessionPairFigure: StartSession+EndSession. The direct side's pair never
// leaves the driver (it takes a server session id from its pool and gives
// it back), so its ratio only says what the two RPCs cost.
func sessionPairFigure(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	sides := []side{
		{"direct", func(ctx context.Context, _ int) error {
			s, err := e.direct.StartSession()
			if err != nil {
				return err
			}
			s.EndSession(ctx)
			return nil
		}},
		{"mongogate", func(ctx context.Context, _ int) error {
			s, err := e.mg.StartSession(ctx)
			if err != nil {
				return err
			}
			return s.End(ctx)
		}},
	}
	fig := fmt.Sprintf("StartSession+EndSession, %d clients", p.clients)
	r := measure(ctx, t, p, fig, p.clients, sides...)
	row := row{figure: fig, direct: fmtRate(r[0].perSecond(), "pairs/s") + " (local)", gate: fmtRate(r[1].perSecond(), "pairs/s"),
		ratio: fmtRatio(r[1].perSecond(), r[0].perSecond())}
	if g := r[1].perSecond(); g > 0 {
		row.target, row.verdict = "≥ 20000/s", verdict(g >= 20_000)
	}
	tb.add(row)
	tb.cpuRow(r[0], r[1])
}

// heapFigures opens p.sessions idle sessions on a server of their own and
// reports the heap each takes; then FindOne-with-token p50 over 100 of
// them, against the same on a server that holds only 100 sessions.
func heapFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	const probes = 100
	fig := fmt.Sprintf("Heap per idle session (%d)", p.sessions)
	lookupFig := fmt.Sprintf("FindOne w/ token p50, %d → %d sessions", probes, p.sessions)
	if !p.keeps(fig, "mongogate") && !p.keeps(lookupFig, "mongogate") && !p.keeps(fig, "direct") {
		return
	}
	directPer := driverSessionHeap(t, e.uri, p)

	// A fresh server: its driver's session pool is empty, so every
	// StartSession allocates a server session id as the first ones on a
	// production server do.
	g := startGate(t, e.uri)
	st := g.stubs(t)
	open := func(n, workers int) []string {
		tokens := make([]string, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		var first atomic.Pointer[error]
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
					resp, err := st.sessions.StartSession(ctx, &pb.StartSessionRequest{})
					if err != nil {
						first.CompareAndSwap(nil, &err)
						return
					}
					tokens[i] = resp.GetSession().GetToken()
				}
			})
		}
		wg.Wait()
		if err := first.Load(); err != nil {
			t.Fatalf("%s: StartSession: %v", fig, *err)
		}
		return tokens
	}
	// Warm the connection, its buffers and the server's pools.
	for _, tok := range open(probes, 16) {
		if _, err := st.sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: tok}); err != nil {
			t.Fatal(err)
		}
	}
	tokens := open(probes, 16)
	filter, err := bson.Marshal(bson.D{{Key: "_id", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ns := &pb.Namespace{Database: e.db, Collection: "users"}
	// findWith is FindOne with the tokens in turn, on the server behind st.
	findWith := func(name string, st stubs, tokens []string) side {
		var next atomic.Int64
		return side{name, func(ctx context.Context, _ int) error {
			resp, err := st.docs.FindOne(ctx, &pb.FindOneRequest{
				SessionToken: tokens[next.Add(1)%int64(len(tokens))], Namespace: ns,
				Filter:         &pb.Document{Value: &pb.Document_Bson{Bson: filter}},
				ResponseFormat: pb.DocumentFormat_DOCUMENT_FORMAT_BSON,
			})
			if err == nil && resp.GetDocument() == nil {
				err = errors.New("document not found")
			}
			return err
		}}
	}

	goroutines := runtime.NumGoroutine()
	before := heap()
	open(p.sessions-probes, 16)
	after := heap()
	added := float64(p.sessions - probes)
	if n := g.reg.Stats().Active; n != int64(p.sessions) {
		t.Fatalf("%s: %d sessions open, want %d", fig, n, p.sessions)
	}
	perAlloc := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / added
	perInuse := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / added
	tb.add(row{figure: fig, direct: fmt.Sprintf("%.0f B (driver only)", directPer), gate: fmt.Sprintf("%.0f B", perAlloc),
		ratio: fmtRatio(perAlloc, directPer), target: "≤ 2048 B", verdict: verdict(perAlloc <= 2048)})
	tb.notes = append(tb.notes, fmt.Sprintf("heap: HeapAlloc %+.0f B, HeapInuse %+.0f B per session added, goroutines %+d; "+
		"direct column: the driver's own mongo.Session + server session id, no mongogate",
		perAlloc, perInuse, runtime.NumGoroutine()-goroutines))

	// The same FindOne on a second server that holds only 100 sessions,
	// in alternating rounds with the first: only the registry's size
	// differs.
	small := startGate(t, e.uri)
	smallStubs := small.stubs(t)
	smallTokens := make([]string, probes)
	for i := range smallTokens {
		resp, err := smallStubs.sessions.StartSession(ctx, &pb.StartSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		smallTokens[i] = resp.GetSession().GetToken()
	}
	lookupPlan := p
	lookupPlan.dur = p.dur / 2
	r := measure(ctx, t, lookupPlan, lookupFig, 1,
		findWith("mongogate 100", smallStubs, smallTokens), findWith("mongogate", st, tokens))
	a, b := r[0].quantile(0.5), r[1].quantile(0.5)
	tb.add(row{figure: lookupFig, direct: "-", gate: fmtDur(a) + " → " + fmtDur(b),
		ratio: fmtRatio(float64(b), float64(a)) + " (N/100)", target: "≈ 1 (O(1))"})
}

// driverSessionHeap is the heap of one idle driver session (mongo.Session
// and its server session id), with no mongogate: n sessions held by a
// client of their own, whose pool the ended sessions then fill.
func driverSessionHeap(t *testing.T, uri string, p plan) float64 {
	c := connectDriver(t, uri)
	held := make([]*mongo.Session, p.sessions)
	before := heap()
	for i := range held {
		s, err := c.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		held[i] = s
	}
	after := heap()
	for _, s := range held {
		s.EndSession(context.Background())
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(p.sessions)
}

// heap reads the memory statistics after garbage collection has settled
// (two cycles: the first can leave sync.Pool victims).
func heap() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}
