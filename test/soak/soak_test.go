// Package soak runs many concurrent sessions and transactions through the
// real server process, with commits, aborts and abandoned sessions that
// expire, and checks that every count is exact and that the server gets
// back to where it started: no session left, goroutines and heap within
// 10 % of the baseline.
//
// CI runs a small version; the full one (1,000 sessions × 10
// transactions) runs with
//
//	go test ./test/soak -run TestSoak -soak-full -v
package soak

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

var flagFull = flag.Bool("soak-full", false, "run the full soak: 1,000 sessions × 10 transactions")

var bins proctest.Binaries

func TestMain(m *testing.M) {
	flag.Parse()
	proctest.Main(m, &bins)
}

// idle is the server's idle timeout: abandoned sessions expire after it.
const idle = 3 * time.Second

// sample is what the server looks like at one moment, after a GC.
type sample struct {
	goroutines, heap   float64
	committed, aborted float64
	active             float64
}

func measure(t *testing.T, s *proctest.Server) sample {
	t.Helper()
	base := strings.TrimSuffix(s.MetricsURL, "/metrics")
	// The heap profile with gc=1 collects garbage first; in its text form
	// it ends with runtime.MemStats read just after, so HeapAlloc is the
	// live heap, whatever happens next.
	heap := pprofNumber(t, base+"/debug/pprof/heap?gc=1&debug=1", `(?m)^# HeapAlloc = (\d+)$`)
	goroutines := pprofNumber(t, base+"/debug/pprof/goroutine?debug=1", `^goroutine profile: total (\d+)`)
	f := promtest.Scrape(t, s.MetricsURL)
	v := func(name string, labels ...string) float64 {
		x, ok := f.Value(name, labels...)
		if !ok {
			t.Fatalf("no metric %s%v", name, labels)
		}
		return x
	}
	return sample{
		goroutines: goroutines,
		heap:       heap,
		committed:  v("mongogate_transactions_total", "outcome", "committed"),
		aborted:    v("mongogate_transactions_total", "outcome", "aborted"),
		active:     v("mongogate_sessions_active"),
	}
}

// pprofNumber fetches a profile in its text form and reads the number
// that re's group matches.
func pprofNumber(t *testing.T, url, re string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(re).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no %q in the profile", url, re)
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// load is what one soak round did, by the client's account.
type load struct {
	committed, aborted, abandoned atomic.Int64
	docs                          atomic.Int64 // documents of committed transactions
	errors                        atomic.Int64
	firstErr                      atomic.Value
}

func (l *load) fail(err error) {
	if l.errors.Add(1) == 1 {
		l.firstErr.Store(err)
	}
}

// round runs sessions concurrent sessions of txns transactions each,
// inserting 2 documents per transaction into ns (ids prefixed by tag).
// A transaction commits (70 %), aborts (20 %), or is abandoned with its
// session (10 %), which then expires; with abandon false none is.
func round(ctx context.Context, c testkit.Stubs, ns *pb.Namespace, tag string, sessions, txns int, abandon bool) *load {
	l := &load{}
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 42))
			start, err := c.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
			if err != nil {
				l.fail(err)
				return
			}
			token := start.GetSession().GetToken()
			for j := range txns {
				st, err := c.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
				if err != nil {
					l.fail(err)
					return
				}
				for k := range 2 {
					id := fmt.Sprintf(`{"_id": "%s-%d-%d-%d"}`, tag, i, j, k)
					if _, err := c.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: ns, Document: &pb.Document{Value: &pb.Document_Json{Json: id}}}); err != nil {
						l.fail(err)
						return
					}
				}
				switch r := rng.IntN(10); {
				case abandon && r == 0:
					l.abandoned.Add(1)
					return // the session expires with its transaction open
				case r < 3:
					if _, err := c.Txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()}); err != nil {
						l.fail(err)
						return
					}
					l.aborted.Add(1)
				default:
					if _, err := c.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()}); err != nil {
						l.fail(err)
						return
					}
					l.committed.Add(1)
					l.docs.Add(2)
				}
			}
			if _, err := c.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token}); err != nil {
				l.fail(err)
			}
		})
	}
	wg.Wait()
	return l
}

func TestSoak(t *testing.T) {
	sessions, txns := 200, 4
	if *flagFull {
		sessions, txns = 1000, 10
	}
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	s := proctest.StartServer(t, bins, uri, "--pprof", "--idle-timeout", idle.String(), "--log-level", "warn")
	c := testkit.MustStubs(t, s.Addr)
	db := testbackend.DBName(t)
	ns := &pb.Namespace{Database: db, Collection: "soak"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mc := testbackend.Client(t, uri)
	// Transactions that create a collection implicitly conflict with each
	// other, on MongoDB as on the emulator.
	for _, coll := range []string{"warmup", "soak"} {
		if err := mc.Database(db).CreateCollection(ctx, coll); err != nil {
			t.Fatal(err)
		}
	}

	// Warm up at the same concurrency, so that pools and buffers that
	// stay (the driver's connections and session pool, gRPC's streams)
	// are in the baseline.
	warm := round(ctx, c, &pb.Namespace{Database: db, Collection: "warmup"}, "w", sessions, 1, false)
	if n := warm.errors.Load(); n > 0 {
		t.Fatalf("warm-up: %d errors, the first: %v", n, warm.firstErr.Load())
	}
	base := measure(t, s)

	began := time.Now()
	l := round(ctx, c, ns, "s", sessions, txns, true)
	took := time.Since(began)
	if n := l.errors.Load(); n > 0 {
		t.Fatalf("%d errors, the first: %v", n, l.firstErr.Load())
	}
	// Abandoned sessions expire after idle; the reaper aborts their
	// transactions.
	deadline := time.Now().Add(idle + 30*time.Second)
	var end sample
	for {
		end = measure(t, s)
		if end.active == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	ops := int64(sessions*txns) - l.abandoned.Load()*int64(txns) // roughly; for the rate only
	t.Logf("%d sessions × %d transactions in %v (%d committed, %d aborted, %d abandoned to expire; ~%d txn/s)",
		sessions, txns, took.Round(time.Millisecond), l.committed.Load(), l.aborted.Load(), l.abandoned.Load(),
		int64(float64(ops)/took.Seconds()))
	t.Logf("baseline: %v goroutines, %.1f MiB heap; after: %v goroutines, %.1f MiB heap (%.3f×, %.3f×)",
		base.goroutines, base.heap/(1<<20), end.goroutines, end.heap/(1<<20), end.goroutines/base.goroutines, end.heap/base.heap)

	if end.active != 0 {
		t.Errorf("%v sessions still open %v after the last was abandoned", end.active, idle+30*time.Second)
	}
	if got := end.committed - base.committed; got != float64(l.committed.Load()) {
		t.Errorf("mongogate_transactions_total{committed} grew by %v, want %d", got, l.committed.Load())
	}
	if got, want := end.aborted-base.aborted, float64(l.aborted.Load()+l.abandoned.Load()); got != want {
		t.Errorf("mongogate_transactions_total{aborted} grew by %v, want %v (aborts and expired sessions)", got, want)
	}
	n, err := mc.Database(db).Collection("soak").CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != l.docs.Load() {
		t.Errorf("%d documents, want exactly the %d of committed transactions", n, l.docs.Load())
	}
	if end.goroutines > 1.1*base.goroutines {
		t.Errorf("goroutines %v, more than 10 %% above the baseline %v", end.goroutines, base.goroutines)
	}
	if end.heap > 1.1*base.heap {
		t.Errorf("heap %.1f MiB, more than 10 %% above the baseline %.1f MiB", end.heap/(1<<20), base.heap/(1<<20))
	}
}
