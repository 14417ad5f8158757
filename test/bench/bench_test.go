package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// seeded is the number of documents FindOne reads from.
const seeded = 1_000

// payload makes each document about 150 bytes of BSON.
var payload = strings.Repeat("x", 64)

// DESIGN §7's targets, against the floor.
const (
	// maxResidual bounds mongogate − floor at p50, 1 client, for FindOne
	// and InsertOne.
	maxResidual = 15 * time.Microsecond
	// minRate is the least mongogate/floor throughput at 64 clients;
	// minExplicitTxnRate that of transactions by explicit RPCs.
	minRate            = 0.85
	minExplicitTxnRate = 0.8
	// minSessionPairRate is the least mongogate/floor rate of
	// StartSession+EndSession.
	minSessionPairRate = 0.9
)

// TestBenchSmoke runs every figure briefly: it checks that each operation
// succeeds on every side and that the table prints, and asserts nothing
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

type gogcSetting struct {
	label    string
	previous int
}

// setGOGC gives the whole process (every side alike) the garbage
// collection target cmd/server runs with by default (--gogc 400), unless
// GOGC is set in the environment, which then wins as it does for the
// server.
func setGOGC() gogcSetting {
	if v := os.Getenv("GOGC"); v != "" {
		cur := debug.SetGCPercent(100)
		debug.SetGCPercent(cur)
		return gogcSetting{label: v + " (environment)", previous: cur}
	}
	prev := debug.SetGCPercent(serverGOGC)
	return gogcSetting{label: strconv.Itoa(serverGOGC) + " (cmd/server's default)", previous: prev}
}

// serverGOGC is cmd/server's --gogc default.
const serverGOGC = 400

// run measures every figure with p and prints the table.
func run(t *testing.T, p plan) *table {
	ctx := context.Background()
	e := newEnv(t)
	mode := "smoke"
	if p.dur > 0 {
		mode = fmt.Sprintf("full, %d rounds × %v per side", p.rounds, p.dur)
	}
	backend := "in-process emulator"
	switch {
	case testbackend.External():
		backend = testbackend.EnvURI
	case *flagBackend == "process":
		backend = "a cmd/emulator process"
	}
	gogc := setGOGC()
	defer debug.SetGCPercent(gogc.previous)
	tb := &table{title: fmt.Sprintf("mongogate benchmark (%s; backend: %s; GOMAXPROCS=%d; GOGC=%s; %d clients for throughput)",
		mode, backend, runtime.GOMAXPROCS(0), gogc.label, p.clients)}
	tb.notes = append(tb.notes, "† bare proxy: the least a gRPC proxy in front of the driver does (the generated handler, one driver call, the answer; "+
		"mongogate's transport tuning and driver client, no interceptors or checks), called by the same Go client; its rows put it in the mongogate column against the floor, "+
		"so bare/floor is what the hop itself costs and mongogate/bare what mongogate's own code adds")
	tb.notes = append(tb.notes, "floor = bare gRPC round trips (grpc-go defaults, loopback) with mongogate's request and response sizes, "+
		"then the direct driver call, in one operation: what a proxy that cost nothing would take")
	if testbackend.External() || *flagBackend == "process" {
		tb.notes = append(tb.notes, "CPU per op: this process only (clients, mongogate, the floor's server); the backend's own CPU is not counted")
	}
	defer tb.print(os.Stdout)

	emptyRPCFigures(ctx, t, p, e, tb)
	findOneFigures(ctx, t, p, e, tb)
	httpFigures(ctx, t, p, e, tb)
	insertOneFigures(ctx, t, p, e, tb)
	transactionFigures(ctx, t, p, e, tb)
	recordOutcomeFigure(ctx, t, p, e, tb)
	sessionPairFigure(ctx, t, p, e, tb)
	forwardFigure(ctx, t, p, e, tb)
	idleFigures(ctx, t, p, e, tb)
	return tb
}

// sides3 are a figure's three sides, in the order cols3 reads them.
func sides3(gate, floor, direct func(ctx context.Context, c int) error) []side {
	return []side{{"mongogate", gate}, {"floor", floor}, {"direct", direct}}
}

func cols3(r []result) cols { return cols{gate: r[0], floor: r[1], direct: r[2]} }

// withFloor is a floor side: f's round trips, then the direct call.
func withFloor(f *floor, direct func(ctx context.Context, c int) error) func(ctx context.Context, c int) error {
	return func(ctx context.Context, c int) error {
		if err := f.roundTrips(ctx); err != nil {
			return err
		}
		return direct(ctx, c)
	}
}

// emptyRPCFigures measures a unary RPC that does no work (a health
// check) on mongogate's server, whose interceptor chain it passes
// (logging, metrics, recovery; authentication skips it), and on a bare
// grpc.Server (the floor column): the difference is the chain's.
func emptyRPCFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	bare := startBare(t)
	gate := e.gate.health(t)
	req := &healthpb.HealthCheckRequest{}
	sides := []side{
		{"mongogate", func(ctx context.Context, _ int) error {
			_, err := gate.Check(ctx, req)
			return err
		}},
		{"floor", func(ctx context.Context, _ int) error {
			_, err := bare.Check(ctx, req)
			return err
		}},
	}
	fig := "Empty RPC*, 1 client"
	r := measure(ctx, t, p, fig, 1, sides...)
	tb.latencyRows(fig, cols{gate: r[0], floor: r[1]}, 0)
	fig = fmt.Sprintf("Empty RPC*, %d clients", p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "ops/s", cols{gate: r[0], floor: r[1]}, 0)
	tb.notes = append(tb.notes, "* a health check: on mongogate's server through its interceptor chain; floor on a bare grpc.Server with no options")
}

func findOneFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	docs := make([]any, seeded)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprintf("user-%d", i)}, {Key: "n", Value: i}, {Key: "payload", Value: payload}}
	}
	if _, err := e.direct.Database(e.db).Collection("users").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	findGate := func(ctx context.Context, coll *mongogate.Collection) error {
		_, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: rand.N(seeded)}}).Raw()
		return err
	}
	direct := e.direct.Database(e.db).Collection("users")
	findDirect := func(ctx context.Context, _ int) error {
		_, err := direct.FindOne(ctx, bson.D{{Key: "_id", Value: rand.N(seeded)}}).Raw()
		return err
	}
	fig := "FindOne by _id"
	calls := e.record(ctx, t, fig, func(ctx context.Context) error { return findGate(ctx, e.probe.Database(e.db).Collection("users")) })
	f := startFloor(t, calls)
	tb.notes = append(tb.notes, "sizes, "+fig+": "+f.sizes(calls))
	gate := e.mg.Database(e.db).Collection("users")
	bare := e.bare.Database(e.db).Collection("users")
	sides := append(sides3(func(ctx context.Context, _ int) error { return findGate(ctx, gate) }, withFloor(f, findDirect), findDirect),
		side{"bare proxy", func(ctx context.Context, _ int) error { return findGate(ctx, bare) }})

	r := measure(ctx, t, p, fig+", 1 client", 1, sides...)
	tb.latencyRows(fig+", 1 client", cols3(r), maxResidual)
	tb.latencyRows(fig+" via a bare proxy†, 1 client", bareCols(r), 0)
	fig = fmt.Sprintf("%s, %d clients", fig, p.clients)
	r = measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "ops/s", cols3(r), minRate)
	tb.rateRow(strings.Replace(fig, ", ", " via a bare proxy†, ", 1), "ops/s", bareCols(r), 0)
}

// bareCols are the bare proxy's result (sides[3], in the mongogate
// column) against the floor (sides[1]) of a figure measured with
// sides3 and a bare-proxy side.
func bareCols(r []result) cols { return cols{gate: r[3], floor: r[1]} }

// newDoc is the document of an insert: no _id, so that each side adds one
// as it would for an application.
func newDoc(n int64) bson.D {
	return bson.D{{Key: "n", Value: n}, {Key: "name", Value: "user"}, {Key: "payload", Value: payload}}
}

func insertOneFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	// Each side writes its own collection, so all insert into collections
	// that grow alike.
	var seq atomic.Int64
	insertGate := func(ctx context.Context, coll *mongogate.Collection) error {
		_, err := coll.InsertOne(ctx, newDoc(seq.Add(1)))
		return err
	}
	insertDirect := func(coll *mongo.Collection) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			_, err := coll.InsertOne(ctx, newDoc(seq.Add(1)))
			return err
		}
	}
	fig := "InsertOne"
	calls := e.record(ctx, t, fig, func(ctx context.Context) error {
		return insertGate(ctx, e.probe.Database(e.db).Collection("insert_mongogate"))
	})
	f := startFloor(t, calls)
	tb.notes = append(tb.notes, "sizes, "+fig+": "+f.sizes(calls))
	gate := e.mg.Database(e.db).Collection("insert_mongogate")
	bare := e.bare.Database(e.db).Collection("insert_bare")
	sides := append(sides3(func(ctx context.Context, _ int) error { return insertGate(ctx, gate) },
		withFloor(f, insertDirect(e.direct.Database(e.db).Collection("insert_floor"))),
		insertDirect(e.direct.Database(e.db).Collection("insert_direct"))),
		side{"bare proxy", func(ctx context.Context, _ int) error { return insertGate(ctx, bare) }})

	colls := []string{"insert_direct", "insert_floor", "insert_mongogate", "insert_bare"}
	reset := func() { empty(ctx, t, e, colls...) }
	r := measureWith(ctx, t, p, fig+", 1 client", 1, reset, sides...)
	tb.latencyRows(fig+", 1 client", cols3(r), maxResidual)
	tb.latencyRows(fig+" via a bare proxy†, 1 client", bareCols(r), 0)
	fig = fmt.Sprintf("%s, %d clients", fig, p.clients)
	r = measureWith(ctx, t, p, fig, p.clients, reset, sides...)
	tb.rateRow(fig, "ops/s", cols3(r), minRate)
	tb.rateRow(strings.Replace(fig, ", ", " via a bare proxy†, ", 1), "ops/s", bareCols(r), 0)
	drop(ctx, t, e, colls...)
}

// empty drops collections and creates them again, empty (so that no
// transaction has to create them).
func empty(ctx context.Context, t *testing.T, e *env, names ...string) {
	drop(ctx, t, e, names...)
	for _, n := range names {
		if err := e.direct.Database(e.db).CreateCollection(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}

// drop removes what a figure wrote, so that later figures find the
// backend as empty as the first did.
func drop(ctx context.Context, t *testing.T, e *env, names ...string) {
	for _, n := range names {
		if err := e.direct.Database(e.db).Collection(n).Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// transactionFigures: a transaction of three InsertOnes. The direct side,
// its floors and mongogate's explicit RPCs keep one session per client for
// the whole figure (as an application would), so none counts starting and
// ending sessions; RunTransaction is called without a token, its one RPC
// does everything. The floor of the explicit RPCs is 5 bare round trips
// and the direct transaction; that of RunTransaction 1 and the same.
func transactionFigures(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	colls := []string{"txn_direct", "txn_floor", "txn_floor_run", "txn_mongogate", "txn_run"}
	// Collections must exist before a transaction inserts into them on
	// MongoDB before 4.4; create them outside the figures.
	for _, name := range colls {
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
	// The sides that share directSess never run at once: measure runs one
	// side at a time.
	directTxn := func(name string) func(ctx context.Context, c int) error {
		coll := e.direct.Database(e.db).Collection(name)
		return func(ctx context.Context, c int) error {
			_, err := directSess[c].WithTransaction(ctx, func(ctx context.Context) (any, error) {
				for range txnInserts {
					if _, err := coll.InsertOne(ctx, newDoc(seq.Add(1))); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
			return err
		}
	}
	explicit := func(ctx context.Context, s *mongogate.Session, coll *mongogate.Collection) error {
		return explicitTxn(ctx, s, coll, &seq, nil)
	}
	runTxn := func(ctx context.Context, c *mongogate.Client, coll *mongogate.Collection) error {
		ops := make([]mongogate.TxnOp, txnInserts)
		for i := range ops {
			ops[i] = coll.InsertOneOp(newDoc(seq.Add(1)))
		}
		_, err := c.RunTransaction(ctx, ops)
		return err
	}

	fig := "Txn 3×InsertOne"
	ps, err := e.probe.StartSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	explicitCalls := e.record(ctx, t, fig+", explicit RPCs", func(ctx context.Context) error {
		return explicit(ctx, ps, e.probe.Database(e.db).Collection("txn_mongogate"))
	})
	if err := ps.End(ctx); err != nil {
		t.Fatal(err)
	}
	runCalls := e.record(ctx, t, fig+", RunTransaction", func(ctx context.Context) error {
		return runTxn(ctx, e.probe, e.probe.Database(e.db).Collection("txn_run"))
	})
	fExplicit, fRun := startFloor(t, explicitCalls), startFloor(t, runCalls)
	tb.notes = append(tb.notes, "sizes, txn explicit RPCs: "+fExplicit.sizes(explicitCalls),
		"sizes, txn RunTransaction: "+fRun.sizes(runCalls),
		"txn: direct = Session.WithTransaction on a session kept per client; "+
			"explicit RPCs = StartTransaction, 3 InsertOne with the token, CommitTransaction (5 RPCs) on a session kept per client, "+
			"floor 5 round trips + the direct txn; RunTransaction = 1 RPC without a token (the server uses a session of its own), "+
			"floor 1 round trip + the direct txn")

	gateExplicit := e.mg.Database(e.db).Collection("txn_mongogate")
	gateRun := e.mg.Database(e.db).Collection("txn_run")
	sides := []side{
		{"mongogate explicit", func(ctx context.Context, c int) error { return explicit(ctx, gateSess[c], gateExplicit) }},
		{"floor explicit", withFloor(fExplicit, directTxn("txn_floor"))},
		{"mongogate RunTransaction", func(ctx context.Context, _ int) error { return runTxn(ctx, e.mg, gateRun) }},
		{"floor RunTransaction", withFloor(fRun, directTxn("txn_floor_run"))},
		{"direct", directTxn("txn_direct")},
	}
	figs := []struct {
		name    string
		gate    int
		minRate float64
	}{{"explicit RPCs", 0, minExplicitTxnRate}, {"RunTransaction", 2, minRate}}

	reset := func() { empty(ctx, t, e, colls...) }
	one := fig + ", 1 client"
	r := measureWith(ctx, t, p, one, 1, reset, sides...)
	for _, f := range figs {
		tb.latencyRows(one+", "+f.name, cols{gate: r[f.gate], floor: r[f.gate+1], direct: r[4]}, 0)
	}
	many := fmt.Sprintf("%s, %d clients", fig, p.clients)
	r = measureWith(ctx, t, p, many, p.clients, reset, sides...)
	for _, f := range figs {
		tb.rateRow(many+", "+f.name, "txn/s", cols{gate: r[f.gate], floor: r[f.gate+1], direct: r[4]}, f.minRate)
	}
	drop(ctx, t, e, colls...)
}

// sessionPairFigure: StartSession+EndSession. The direct side's pair never
// leaves the driver (it takes a server session id from its pool and gives
// it back); the floor is two bare round trips of StartSession's and
// EndSession's sizes with that pair.
func sessionPairFigure(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	fig := fmt.Sprintf("StartSession+EndSession, %d clients", p.clients)
	calls := e.record(ctx, t, fig, func(ctx context.Context) error { return sessionPair(e.probe)(ctx, 0) })
	f := startFloor(t, calls)
	tb.notes = append(tb.notes, "sizes, session pair: "+f.sizes(calls)+"; its direct column is local to the driver (no round trip)")
	sides := sides3(sessionPair(e.mg), withFloor(f, e.directSessionPair), e.directSessionPair)
	r := measure(ctx, t, p, fig, p.clients, sides...)
	tb.rateRow(fig, "pairs/s", cols3(r), minSessionPairRate)
}

// sessionPair starts a session through c and ends it.
func sessionPair(c *mongogate.Client) func(ctx context.Context, _ int) error {
	return func(ctx context.Context, _ int) error {
		s, err := c.StartSession(ctx)
		if err != nil {
			return err
		}
		return s.End(ctx)
	}
}

// directSessionPair is the driver's own pair, which never leaves it: a
// server session id from its pool, given back.
func (e *env) directSessionPair(ctx context.Context, _ int) error {
	s, err := e.direct.StartSession()
	if err != nil {
		return err
	}
	s.EndSession(ctx)
	return nil
}

// txnInserts is the number of InsertOnes in the transaction figures.
const txnInserts = 3

// explicitTxn runs the transaction figures' transaction by explicit RPCs
// on s: StartTransaction (with opts, when not nil), txnInserts InsertOnes
// into coll of documents numbered by seq, CommitTransaction; an insert
// that fails aborts it.
func explicitTxn(ctx context.Context, s *mongogate.Session, coll *mongogate.Collection, seq *atomic.Int64, opts *options.TransactionOptions) error {
	var start []*options.TransactionOptions
	if opts != nil {
		start = append(start, opts)
	}
	if err := s.StartTransaction(ctx, start...); err != nil {
		return err
	}
	sctx := mongogate.NewSessionContext(ctx, s)
	for range txnInserts {
		if _, err := coll.InsertOne(sctx, newDoc(seq.Add(1))); err != nil {
			return errors.Join(err, s.AbortTransaction(ctx))
		}
	}
	return s.CommitTransaction(ctx)
}

// recordOutcomeFigure: the transaction of 3 InsertOnes by explicit RPCs,
// on a session kept per client, with and without record_outcome; the
// floor column is the same transaction without it, so mg/floor is the
// cost of the record.
func recordOutcomeFigure(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	colls := []string{"outcome_on", "outcome_off"}
	for _, name := range colls {
		if err := e.direct.Database(e.db).CreateCollection(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	sess := make([]*mongogate.Session, p.clients)
	for c := range sess {
		s, err := e.mg.StartSession(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sess[c] = s
	}
	defer func() {
		for _, s := range sess {
			_ = s.End(ctx)
		}
	}()
	var seq atomic.Int64
	txn := func(name string, record bool) func(ctx context.Context, c int) error {
		coll := e.mg.Database(e.db).Collection(name)
		opts := options.Transaction().SetRecordOutcome(record)
		return func(ctx context.Context, c int) error {
			return explicitTxn(ctx, sess[c], coll, &seq, opts)
		}
	}
	sides := []side{{"mongogate record_outcome", txn("outcome_on", true)}, {"mongogate plain", txn("outcome_off", false)}}
	reset := func() {
		empty(ctx, t, e, colls...)
		// Created up front, as cmd/server does with its TTL index:
		// transactions creating it would conflict with each other.
		outcomes := e.direct.Database(directoryDB).Collection(outcomesColl)
		if err := outcomes.Drop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := e.direct.Database(directoryDB).CreateCollection(ctx, outcomesColl); err != nil {
			t.Fatal(err)
		}
	}
	fig := "Txn 3×InsertOne + record_outcome (floor: without it)"
	tb.notes = append(tb.notes, "record_outcome: both columns are mongogate's explicit-RPC transaction on sessions kept per client; "+
		"mg/floor is what recording the outcome (one more insert, inside the transaction) costs")
	r := measureWith(ctx, t, p, fig+", 1 client", 1, reset, sides...)
	tb.latencyRows(fig+", 1 client", cols{gate: r[0], floor: r[1]}, 0)
	many := fmt.Sprintf("%s, %d clients", fig, p.clients)
	r = measureWith(ctx, t, p, many, p.clients, reset, sides...)
	tb.rateRow(many, "txn/s", cols{gate: r[0], floor: r[1]}, 0)
	drop(ctx, t, e, colls...)
}

// forwardFigure: FindOne with a session token, sent to the instance that
// holds the session (direct column) and to another instance, which
// forwards it (mongogate column); the floor column is the owner's call
// followed by one bare gRPC round trip of the same sizes, so mg/floor ≤ 1
// means forwarding costs at most one extra loopback round trip.
func forwardFigure(ctx context.Context, t *testing.T, p plan, e *env, tb *table) {
	owner := startGate(t, e.uri, gateOptions{instance: "bench-owner", peers: true})
	other := startGate(t, e.uri, gateOptions{instance: "bench-other", peers: true})
	toOwner, viaOther := owner.stubs(t), other.stubs(t)
	start, err := toOwner.sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	token := start.GetSession().GetToken()
	coll := e.direct.Database(e.db).Collection("forward")
	docs := make([]any, seeded)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "payload", Value: payload}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	ns := &pb.Namespace{Database: e.db, Collection: "forward"}
	find := func(st stubs) func(ctx context.Context, _ int) error {
		return func(ctx context.Context, _ int) error {
			f, err := bson.Marshal(bson.D{{Key: "_id", Value: rand.N(seeded)}})
			if err != nil {
				return err
			}
			_, err = st.docs.FindOne(ctx, &pb.FindOneRequest{SessionToken: token, Namespace: ns,
				Filter: &pb.Document{Value: &pb.Document_Bson{Bson: f}}, ResponseFormat: pb.DocumentFormat_DOCUMENT_FORMAT_BSON})
			return err
		}
	}
	// The forwarded hop carries the same request and response.
	f0, _ := bson.Marshal(bson.D{{Key: "_id", Value: 0}})
	req := &pb.FindOneRequest{SessionToken: token, Namespace: ns, Filter: &pb.Document{Value: &pb.Document_Bson{Bson: f0}},
		ResponseFormat: pb.DocumentFormat_DOCUMENT_FORMAT_BSON}
	resp, err := toOwner.docs.FindOne(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	calls := []call{{method: pb.DocumentService_FindOne_FullMethodName, req: proto.Size(req), resp: proto.Size(resp)}}
	fl := startFloor(t, calls)
	fig := "FindOne w/ token, forwarded (floor: to the owner + 1 round trip)"
	tb.notes = append(tb.notes, "forwarded: mongogate = FindOne sent to another instance, which forwards it to the session's owner; "+
		"direct = sent to the owner; floor = sent to the owner, then one bare round trip of its sizes ("+fl.sizes(calls)+")")
	ownerCall := find(toOwner)
	sides := sides3(find(viaOther), func(ctx context.Context, c int) error {
		if err := ownerCall(ctx, c); err != nil {
			return err
		}
		return fl.roundTrips(ctx)
	}, ownerCall)
	r := measure(ctx, t, p, fig+", 1 client", 1, sides...)
	tb.latencyRows(fig+", 1 client", cols3(r), time.Nanosecond)
	drop(ctx, t, e, "forward")
}
