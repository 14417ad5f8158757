package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

const (
	accounts = 100
	opening  = 1000
	total    = accounts * opening
	// hotAccounts are where hot transfers go, so that they conflict.
	hotAccounts = 4
	instances   = 3
	// heartbeat is the instances' --heartbeat-interval: short, so that a
	// bounded run sees many deaths and pauses; peers declare an instance
	// dead after three.
	heartbeat = 500 * time.Millisecond
	// callTimeout bounds each call of the Go client.
	callTimeout = 1500 * time.Millisecond
	// workers per client kind.
	workers = 4
	// resolveFor bounds the wait for GetTransactionOutcome to settle an
	// unknown outcome (a fence waits for the transaction to end, at worst
	// the emulator's transaction lifetime).
	resolveFor = 45 * time.Second
)

// kinds of clients, as the figures name them.
const (
	kindGo  = "go-client WithTransaction"
	kindRaw = "raw gRPC via nginx"
	kindRun = "RunTransaction via nginx"
)

// What a client was told about a transfer, and what the data must show.
type verdict int

const (
	// committed: acknowledged; must be there exactly once.
	committed verdict = iota + 1
	// notCommitted: told aborted, or never asked to commit; must be absent.
	notCommitted
	// resolvedCommitted, resolvedAborted: the outcome was unknown and
	// GetTransactionOutcome settled it.
	resolvedCommitted
	resolvedAborted
	// unresolved: GetTransactionOutcome never settled it (an anomaly).
	unresolved
)

func (v verdict) String() string {
	return [...]string{"", "committed", "not committed", "unknown, resolved committed", "unknown, resolved aborted", "unresolved"}[v]
}

// transfer is one client's attempt to move amount from one account to
// another, with the history of what it was told.
type transfer struct {
	id       string
	kind     string
	from, to string
	amount   int64
	verdict  verdict
	history  []string
	began    time.Time
	resolved bool // its outcome was unknown at first
}

func (tr *transfer) logf(format string, args ...any) {
	tr.history = append(tr.history, fmt.Sprintf("+%6dms ", time.Since(tr.began).Milliseconds())+fmt.Sprintf(format, args...))
}

// bank is the system under test and its clients' records.
type bank struct {
	seed    int64
	uri     string // the emulator, directly
	mc      *mongo.Client
	db      string
	proxies [instances]*proctest.Proxy
	addrs   [instances]string
	servers [instances]*proctest.Server
	incarn  [instances]int
	lb      string
	gc      *mongogate.Client
	lbStubs testkit.Stubs

	hot atomic.Int64 // per mille of transfers between hot accounts

	mu        sync.Mutex
	transfers []*transfer
	faults    map[string]int
	snapshots int
	bad       []string // anomalies found during the run
}

func startBank(t *testing.T, seed int64) *bank {
	b := &bank{seed: seed, db: testbackend.DBName(t), faults: map[string]int{}}
	b.hot.Store(150)
	// Orphans of an instance that is paused or cut off are aborted by the
	// emulator after this; a fence waits for them at most this long.
	_, b.uri = proctest.Emulator(t, bins, "--transaction-lifetime", "10s")
	b.mc = testbackend.Client(t, b.uri)
	ctx := context.Background()
	var docs []any
	for i := range accounts {
		docs = append(docs, bson.D{{Key: "_id", Value: account(i)}, {Key: "balance", Value: int64(opening)}})
	}
	if _, err := b.mc.Database(b.db).Collection("accounts").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := b.mc.Database(b.db).CreateCollection(ctx, "transfers"); err != nil {
		t.Fatal(err)
	}
	for i := range instances {
		b.proxies[i] = proctest.StartProxy(t, proctest.HostOf(b.uri))
		b.addrs[i] = proctest.FreeAddr(t)
		b.start(t, i)
	}
	b.lb = proctest.Nginx(t, b.addrs[:])
	// Each call of the Go client gives up after callTimeout, so that a
	// commit sent to a paused owner times out while the owner still holds
	// it, and is resolved (fenced) before the owner resumes and reads it.
	gc, err := mongogate.New(b.lb, mongogate.WithDefaultTimeout(callTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gc.Close() })
	b.gc = gc
	b.lbStubs = testkit.MustStubs(t, b.lb)
	return b
}

// start runs instance i (again) on its address, through its proxy, under
// a new id for each incarnation.
func (b *bank) start(t *testing.T, i int) {
	b.incarn[i]++
	b.servers[i] = proctest.StartServer(t, bins, "mongodb://"+b.proxies[i].Addr+"/?directConnection=true",
		"--listen", b.addrs[i], "--instance-id", fmt.Sprintf("mg-chaos-%d-r%d", i, b.incarn[i]),
		"--heartbeat-interval", heartbeat.String(), "--commit-retry-limit", "3s",
		"--record-outcome", "--log-level", "warn")
}

func account(i int) string { return fmt.Sprintf("a%03d", i) }

// run moves money for d while injecting faults, then stops the clients
// and heals everything.
func (b *bank) run(t *testing.T, d time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { b.client(ctx, kindGo, w, b.goTransfer) })
		wg.Go(func() { b.client(ctx, kindRaw, w, b.rawTransfer) })
		wg.Go(func() { b.client(ctx, kindRun, w, b.runTransfer) })
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		b.snapshotReader(ctx)
	}()
	b.inject(t, time.Now().Add(d))
	stop()
	wg.Wait()
	<-readerDone
}

// client runs transfers on one worker until ctx ends. Each transfer's
// own choices come from a generator seeded from the run's seed.
func (b *bank) client(ctx context.Context, kind string, w int, do func(*rand.Rand, *transfer)) {
	rng := rand.New(rand.NewPCG(uint64(b.seed), uint64(len(kind)*1000+w)))
	for seq := 0; ctx.Err() == nil; seq++ {
		tr := &transfer{id: fmt.Sprintf("%s-%d-%d", strings.Fields(kind)[0], w, seq), kind: kind, began: time.Now()}
		b.pick(rng, tr)
		do(rng, tr)
		b.mu.Lock()
		b.transfers = append(b.transfers, tr)
		b.mu.Unlock()
	}
}

// pick chooses the accounts and the amount: between hot accounts with the
// current hot rate, which makes transfers conflict.
func (b *bank) pick(rng *rand.Rand, tr *transfer) {
	n := accounts
	if rng.Int64N(1000) < b.hot.Load() {
		n = hotAccounts
	}
	from := rng.IntN(n)
	to := (from + 1 + rng.IntN(n-1)) % n
	tr.from, tr.to = account(from), account(to)
	tr.amount = 1 + rng.Int64N(300)
}

// snapshotReader reads every balance in one snapshot (a transaction on a
// direct connection) twice a second; each sum must be the total.
func (b *bank) snapshotReader(ctx context.Context) {
	for ctx.Err() == nil {
		sum, n, err := b.sum(ctx)
		b.mu.Lock()
		switch {
		case err != nil:
		case n != accounts || sum != total:
			b.bad = append(b.bad, fmt.Sprintf("a snapshot read %d accounts holding %d, want %d holding %d", n, sum, accounts, total))
			b.snapshots++
		default:
			b.snapshots++
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sum reads the accounts in a snapshot and sums them.
func (b *bank) sum(ctx context.Context) (sum int64, n int, err error) {
	s, err := b.mc.StartSession()
	if err != nil {
		return 0, 0, err
	}
	defer s.EndSession(context.Background())
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.StartTransaction(options.Transaction().SetReadConcern(readconcern.Snapshot())); err != nil {
		return 0, 0, err
	}
	defer func() { _ = s.AbortTransaction(context.Background()) }()
	cur, err := b.mc.Database(b.db).Collection("accounts").Find(mongo.NewSessionContext(rctx, s), bson.D{})
	if err != nil {
		return 0, 0, err
	}
	var all []struct {
		Balance int64 `bson:"balance"`
	}
	if err := cur.All(rctx, &all); err != nil {
		return 0, 0, err
	}
	for _, a := range all {
		sum += a.Balance
	}
	return sum, len(all), nil
}

// inject injects one fault at a time, at random, until the deadline.
func (b *bank) inject(t *testing.T, until time.Time) {
	rng := rand.New(rand.NewPCG(uint64(b.seed), 0xfa017))
	began := time.Now()
	type fault struct {
		name   string
		weight int
		do     func(i int)
	}
	faults := []fault{
		{"SIGKILL and restart", 2, func(i int) {
			b.servers[i].Kill()
			sleep(rng, 300*time.Millisecond, 1500*time.Millisecond)
			b.start(t, i)
		}},
		{"SIGSTOP past 3 heartbeats, SIGCONT", 3, func(i int) {
			_ = b.servers[i].Signal(syscall.SIGSTOP)
			sleep(rng, 3*heartbeat+200*time.Millisecond, 3*heartbeat+1500*time.Millisecond)
			_ = b.servers[i].Signal(syscall.SIGCONT)
		}},
		{"commit fail point", 3, func(int) {
			data := bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "closeConnection", Value: true}}
			if rng.IntN(2) == 0 {
				// Applied, then answered with an error: the commit's outcome
				// is unknown although it happened.
				data = bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "writeConcernError", Value: bson.D{
					{Key: "code", Value: int32(64)}, {Key: "codeName", Value: "WriteConcernTimeout"}, {Key: "errmsg", Value: "waiting for replication timed out"}}}}
			}
			b.failPoint(t, bson.D{{Key: "times", Value: int32(1 + rng.IntN(4))}}, data)
			sleep(rng, time.Second, 2*time.Second)
		}},
		{"network cut to the backend", 2, func(i int) {
			b.proxies[i].Cut()
			sleep(rng, time.Second, 3*heartbeat+1500*time.Millisecond)
			b.proxies[i].Restore(t)
		}},
		{"write-conflict burst", 1, func(int) {
			b.hot.Store(800)
			sleep(rng, 2*time.Second, 4*time.Second)
			b.hot.Store(150)
		}},
	}
	weights := 0
	for _, f := range faults {
		weights += f.weight
	}
	sleep(rng, time.Second, 2*time.Second)
	for time.Now().Before(until) {
		w := rng.IntN(weights)
		var f fault
		for _, f = range faults {
			if w < f.weight {
				break
			}
			w -= f.weight
		}
		i := rng.IntN(instances)
		t.Logf("fault at +%v: %s (instance %d)", time.Since(began).Round(100*time.Millisecond), f.name, i)
		f.do(i)
		b.mu.Lock()
		b.faults[f.name]++
		b.mu.Unlock()
		sleep(rng, time.Second, 3*time.Second)
	}
	b.failPoint(t, nil, nil)
}

// failPoint sets the emulator's failCommand fail point (mode nil: off)
// through a direct connection.
func (b *bank) failPoint(t *testing.T, mode, data bson.D) {
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"}}
	if mode == nil {
		cmd = append(cmd, bson.E{Key: "mode", Value: "off"})
	} else {
		cmd = append(cmd, bson.E{Key: "mode", Value: mode}, bson.E{Key: "data", Value: data})
	}
	if err := b.mc.Database("admin").RunCommand(context.Background(), cmd).Err(); err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
}

// check compares what the clients were told with the data.
func (b *bank) check(t *testing.T) {
	ctx := context.Background()
	var bad []string
	bad = append(bad, b.bad...)
	sum, n, err := b.sum(ctx)
	if err != nil {
		t.Fatalf("final read: %v", err)
	}
	if n != accounts || sum != total {
		bad = append(bad, fmt.Sprintf("at the end %d accounts hold %d, want %d holding %d", n, sum, accounts, total))
	}
	balances := map[string]int64{}
	cur, err := b.mc.Database(b.db).Collection("accounts").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var accts []struct {
		ID      string `bson:"_id"`
		Balance int64  `bson:"balance"`
	}
	if err := cur.All(ctx, &accts); err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		balances[a.ID] = a.Balance
		if a.Balance < 0 {
			bad = append(bad, fmt.Sprintf("account %s is negative: %d", a.ID, a.Balance))
		}
	}
	cur, err = b.mc.Database(b.db).Collection("transfers").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID     string `bson:"_id"`
		From   string `bson:"from"`
		To     string `bson:"to"`
		Amount int64  `bson:"amount"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	present := map[string]int{}
	want := map[string]int64{}
	for i := range accounts {
		want[account(i)] = opening
	}
	for _, d := range docs {
		present[d.ID]++
		want[d.From] -= d.Amount
		want[d.To] += d.Amount
	}
	for id, w := range want {
		if balances[id] != w {
			bad = append(bad, fmt.Sprintf("account %s holds %d, but the transfers present make it %d (a transfer applied partly, or twice)", id, balances[id], w))
		}
	}

	type tally struct{ attempted, acked, notCommitted, resolvedC, resolvedA, unresolved int }
	byKind := map[string]*tally{}
	known := map[string]bool{}
	var offending []*transfer
	for _, tr := range b.transfers {
		known[tr.id] = true
		k := byKind[tr.kind]
		if k == nil {
			k = &tally{}
			byKind[tr.kind] = k
		}
		k.attempted++
		there := present[tr.id]
		var problem string
		switch tr.verdict {
		case committed:
			k.acked++
			if there != 1 {
				problem = fmt.Sprintf("acknowledged, present %d times", there)
			}
		case notCommitted:
			k.notCommitted++
			if there != 0 {
				problem = "told not committed, but present"
			}
		case resolvedCommitted:
			k.resolvedC++
			if there != 1 {
				problem = fmt.Sprintf("GetTransactionOutcome said committed, present %d times", there)
			}
		case resolvedAborted:
			k.resolvedA++
			if there != 0 {
				problem = "GetTransactionOutcome said aborted, but present"
			}
		default:
			k.unresolved++
			problem = "outcome unknown and never resolved"
		}
		if problem != "" {
			bad = append(bad, fmt.Sprintf("transfer %s: %s", tr.id, problem))
			offending = append(offending, tr)
		}
	}
	for id := range present {
		if !known[id] {
			bad = append(bad, fmt.Sprintf("transfer %s is present but no client made it", id))
		}
	}

	kinds := []string{kindGo, kindRaw, kindRun}
	var lines []string
	for _, kind := range kinds {
		k := byKind[kind]
		if k == nil {
			k = &tally{}
		}
		lines = append(lines, fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %d |", kind, k.attempted, k.acked, k.notCommitted, k.resolvedC, k.resolvedA, k.unresolved))
	}
	names := make([]string, 0, len(b.faults))
	for name := range b.faults {
		names = append(names, name)
	}
	sort.Strings(names)
	var faults []string
	for _, name := range names {
		faults = append(faults, fmt.Sprintf("%s: %d", name, b.faults[name]))
	}
	t.Logf("seed %d; transfers by client kind:\n| client | transfers | acknowledged | not committed | unknown → committed | unknown → aborted | unresolved |\n%s\nfaults injected: %s\n%d snapshot reads; %d transfer documents; anomalies: %d",
		b.seed, strings.Join(lines, "\n"), strings.Join(faults, ", "), b.snapshots, len(docs), len(bad))
	if *verbose {
		for _, tr := range b.transfers {
			t.Logf("history of %s (%s, %s → %s, %d): %v\n  %s", tr.id, tr.kind, tr.from, tr.to, tr.amount, tr.verdict, strings.Join(tr.history, "\n  "))
		}
	}
	if len(bad) == 0 {
		return
	}
	for _, tr := range offending {
		t.Logf("history of %s (%s, %s → %s, %d):\n  %s", tr.id, tr.kind, tr.from, tr.to, tr.amount, strings.Join(tr.history, "\n  "))
	}
	t.Errorf("seed %d: %d anomalies:\n%s", b.seed, len(bad), strings.Join(bad, "\n"))
}

func sleep(rng *rand.Rand, lo, hi time.Duration) {
	time.Sleep(lo + time.Duration(rng.Int64N(int64(hi-lo)+1)))
}

var errInsufficient = errors.New("chaos: insufficient funds")
