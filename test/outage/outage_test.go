// Package outage takes the MongoDB backend away from a running server
// under load: the server must fail fast with BACKEND_UNAVAILABLE, report
// NOT_SERVING, come back when the backend does, and never report a
// commit that did not happen.
package outage

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

// serverArgs: commits whose outcome the outage hides give up after a few
// seconds rather than the default 30.
var serverArgs = []string{"--commit-retry-limit", "4s", "--log-level", "warn"}

// client is one server's services and health.
type client struct {
	testkit.Stubs
	health healthpb.HealthClient
}

func mustClient(t *testing.T, addr string) client {
	t.Helper()
	conn := testkit.Dial(t, addr)
	return client{testkit.NewStubs(conn), healthpb.NewHealthClient(conn)}
}

// result is how one transaction's commit ended, by the server's answer.
type result struct {
	ids     [2]string
	outcome string // "committed", or the reason of the commit's error
}

// loader runs transactions of two inserts on workers until stopped and
// records every commit's answer.
type loader struct {
	c      client
	ns     *pb.Namespace
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	commit []result
}

func startLoad(c client, ns *pb.Namespace, workers int) *loader {
	l := &loader{c: c, ns: ns, stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.one(fmt.Sprintf("w%d-%d", w, i))
			}
		})
	}
	return l
}

// one runs one transaction; calls before the commit may fail in any way
// the outage causes, which just ends the attempt.
func (l *loader) one(tag string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start, err := l.c.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	if err != nil {
		time.Sleep(20 * time.Millisecond)
		return
	}
	token := start.GetSession().GetToken()
	defer func() { _, _ = l.c.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token}) }()
	st, err := l.c.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token})
	if err != nil {
		return
	}
	r := result{ids: [2]string{tag + "-a", tag + "-b"}}
	for _, id := range r.ids {
		if _, err := l.c.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: l.ns,
			Document: &pb.Document{Value: &pb.Document_Json{Json: `{"_id": "` + id + `"}`}}}); err != nil {
			return
		}
	}
	_, err = l.c.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: st.GetTransactionNumber()})
	r.outcome = "committed"
	if err != nil {
		_, r.outcome = testkit.Reason(err)
		if r.outcome == "" {
			r.outcome = status.Code(err).String()
		}
	}
	l.mu.Lock()
	l.commit = append(l.commit, r)
	l.mu.Unlock()
}

// committed is how many transactions have committed so far.
func (l *loader) committed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.commit {
		if r.outcome == "committed" {
			n++
		}
	}
	return n
}

// waitCommitted waits until n transactions have committed in all: the
// load has reached the backend.
func (l *loader) waitCommitted(t *testing.T, n int, what string) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%d commits %s", n, what), func() error {
		if got := l.committed(); got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}

func (l *loader) finish() []result {
	close(l.stop)
	l.wg.Wait()
	return l.commit
}

func waitHealth(t *testing.T, c client, want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return time.Since(began)
		}
		if time.Since(began) > within {
			t.Fatalf("health is %v (%v) after %v, want %v", resp.GetStatus(), err, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The emulator process is killed under load and restarted on its port.
func TestBackendKilled(t *testing.T) {
	if testbackend.External() {
		t.Skip("kills the emulator process; MONGOGATE_TEST_URI names a deployment this test cannot kill")
	}
	addr := proctest.FreeAddr(t)
	emu, uri := proctest.Emulator(t, bins, "--listen", addr)
	s := proctest.StartServer(t, bins, uri, serverArgs...)
	c := mustClient(t, s.Addr)
	ns := &pb.Namespace{Database: testbackend.DBName(t), Collection: "items"}
	mc := testbackend.Client(t, uri)
	if err := mc.Database(ns.Database).CreateCollection(context.Background(), ns.Collection); err != nil {
		t.Fatal(err)
	}
	l := startLoad(c, ns, 8)
	l.waitCommitted(t, 20, "before the kill")
	emu.Kill()
	killed := time.Now()

	// New calls fail fast once the server knows, with a reason and a
	// retry delay.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.Docs.FindOne(ctx, &pb.FindOneRequest{Namespace: ns})
		cancel()
		if testkit.IsReason(err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE) {
			if testkit.RetryInfo(err) == nil {
				t.Fatal("BACKEND_UNAVAILABLE without RetryInfo")
			}
			break
		}
		if time.Since(killed) > 10*time.Second {
			t.Fatalf("10 s after the kill FindOne answers %v, want UNAVAILABLE BACKEND_UNAVAILABLE", err)
		}
	}
	t.Logf("BACKEND_UNAVAILABLE %v after the kill", time.Since(killed).Round(time.Millisecond))
	notServing := waitHealth(t, c, healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second)
	t.Logf("health NOT_SERVING %v after that", notServing.Round(time.Millisecond))
	began := time.Now()
	_, err := c.Sessions.StartSession(context.Background(), &pb.StartSessionRequest{})
	if !testkit.IsReason(err, codes.Unavailable, pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE) || testkit.RetryInfo(err) == nil {
		t.Fatalf("StartSession while the backend is down: %v, want BACKEND_UNAVAILABLE with RetryInfo", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("StartSession took %v to fail while the backend is known down, want it at once", took)
	}

	results := l.finish()
	for _, r := range results {
		switch r.outcome {
		case "committed", pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT.Wire(), pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED.Wire():
		default:
			t.Errorf("commit of %v ended as %s, want committed, UNKNOWN_COMMIT_RESULT or TRANSACTION_ABORTED", r.ids, r.outcome)
		}
	}

	proctest.Emulator(t, bins, "--listen", addr)
	back := waitHealth(t, c, healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	t.Logf("%d commits answered during the outage; health SERVING %v after the restart", len(results), back.Round(time.Millisecond))
	if err := mc.Database(ns.Database).CreateCollection(context.Background(), ns.Collection); err != nil {
		t.Fatal(err)
	}
	after := startLoad(c, ns, 2)
	after.waitCommitted(t, 5, "after the restart")
	for _, r := range after.finish() {
		if r.outcome != "committed" {
			t.Fatalf("a transaction after the restart ended as %s", r.outcome)
		}
	}
	// Stop the server before the emulator goes, as cleanups would do it
	// the other way round.
	if code := s.Stop(t); code != 0 {
		t.Errorf("server exited with %d", code)
	}
}

// The network to the backend is cut under load and restored (the
// backend keeps its data): every commit the server reported is what the
// data shows, and no transaction is half there.
func TestBackendCut(t *testing.T) {
	_, uri := backend(t)
	proxy := proctest.StartProxy(t, proctest.HostOf(uri))
	s := proctest.StartServer(t, bins, "mongodb://"+proxy.Addr+"/?directConnection=true", serverArgs...)
	c := mustClient(t, s.Addr)
	ns := &pb.Namespace{Database: testbackend.DBName(t), Collection: "items"}
	mc := testbackend.Client(t, uri)
	if err := mc.Database(ns.Database).CreateCollection(context.Background(), ns.Collection); err != nil {
		t.Fatal(err)
	}
	l := startLoad(c, ns, 8)
	l.waitCommitted(t, 20, "before the cut")
	proxy.Cut()
	waitHealth(t, c, healthpb.HealthCheckResponse_NOT_SERVING, 10*time.Second)
	time.Sleep(time.Second) // the outage lasts
	proxy.Restore(t)
	back := waitHealth(t, c, healthpb.HealthCheckResponse_SERVING, 10*time.Second)
	l.waitCommitted(t, l.committed()+5, "after the restore")
	results := l.finish()

	counts := map[string]int{}
	for _, r := range results {
		counts[r.outcome]++
		n, err := mc.Database(ns.Database).Collection(ns.Collection).CountDocuments(context.Background(),
			bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{r.ids[0], r.ids[1]}}}}})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case n == 1:
			t.Errorf("transaction %v is half there", r.ids)
		case r.outcome == "committed" && n != 2:
			t.Errorf("transaction %v reported committed, but its documents are not there", r.ids)
		case r.outcome == pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED.Wire() && n != 0:
			t.Errorf("transaction %v reported aborted, but its documents are there", r.ids)
		case r.outcome != "committed" && r.outcome != pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED.Wire() &&
			r.outcome != pb.ErrorReason_ERROR_REASON_UNKNOWN_COMMIT_RESULT.Wire():
			t.Errorf("commit of %v ended as %s", r.ids, r.outcome)
		}
	}
	t.Logf("commits by answer: %v; health SERVING %v after the network came back", counts, back.Round(time.Millisecond))
	if counts["committed"] == 0 {
		t.Error("no transaction committed at all")
	}
}

// backend is the deployment behind the proxy: MONGOGATE_TEST_URI's, or an
// emulator process.
func backend(t *testing.T) (*proctest.Proc, string) {
	t.Helper()
	if uri := os.Getenv(testbackend.EnvURI); uri != "" {
		return nil, uri
	}
	return proctest.Emulator(t, bins)
}
