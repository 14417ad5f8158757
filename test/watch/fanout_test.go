package watch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// changeStreamGetMores counts the getMores in progress on db.coll's
// change streams at the backend (the emulator's currentOp): each open
// change stream keeps one waiting.
func changeStreamGetMores(ctx context.Context, t *testing.T, uri, db, coll string) int {
	t.Helper()
	var res struct {
		InProg []bson.Raw `bson:"inprog"`
	}
	cmd := bson.D{{Key: "currentOp", Value: 1}, {Key: "command.getMore", Value: bson.D{{Key: "$exists", Value: true}}}}
	if err := testbackend.Client(t, uri).Database("admin").RunCommand(ctx, cmd).Decode(&res); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, op := range res.InProg {
		if op.Lookup("ns").StringValue() == db+"."+coll || op.Lookup("command", "collection").StringValue() == coll {
			n++
		}
	}
	return n
}

// One instance, a thousand subscribers on one collection: the backend
// sees one change stream, every subscriber receives every event in order,
// a subscriber that stops reading is cut with WATCH_TOO_SLOW and, once it
// reads again, resumes without loss; the server's goroutines and memory
// stay bounded and return when the subscribers leave.
func TestThousandSubscribers(t *testing.T) {
	if testbackend.External() {
		t.Skip("counts the emulator's operations")
	}
	const (
		subscribers = 1000
		events      = 600
		queue       = 256
		ahead       = 64 // the writer stays this close to the slowest fast reader
	)
	_, uri := proctest.Emulator(t, bins)
	srv := proctest.StartServer(t, bins, uri, "--watch-queue", fmt.Sprint(queue))
	ctx := testCtx(t, 3*time.Minute)
	db := testbackend.DBName(t)
	client := mustClient(t, srv.Addr)
	coll := client.Database(db).Collection("items")

	before := serverFigures(t, srv)
	readers := make([]*reader, subscribers)
	for i := range readers {
		cs, err := coll.Watch(ctx, nil)
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		defer cs.Close(ctx)
		readers[i] = startReader(ctx, cs, false)
	}
	// The slow subscriber has a connection of its own with a small
	// flow-control window, so that the server soon has to queue for it.
	slowClient := mustClient(t, srv.Addr, mongogate.WithDialOptions(
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10)))
	slowCS, err := slowClient.Database(db).Collection("items").Watch(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slowCS.Close(ctx)
	slow := startReader(ctx, slowCS, true)

	if n := metric(t, srv, "mongogate_watch_subscribers"); n != subscribers+1 {
		t.Fatalf("mongogate_watch_subscribers = %v, want %d", n, subscribers+1)
	}
	if n := metric(t, srv, "mongogate_watch_streams_open"); n != 1 {
		t.Fatalf("mongogate_watch_streams_open = %v for %d subscribers, want 1", n, subscribers+1)
	}
	// Sample the backend until it has shown the stream's waiting getMore
	// (the stream reads between getMores too) and at least 20 times.
	most := 0
	for i, deadline := 0, time.Now().Add(10*time.Second); (i < 20 || most == 0) && time.Now().Before(deadline); i++ {
		most = max(most, changeStreamGetMores(ctx, t, uri, db, "items"))
	}
	if most != 1 {
		t.Fatalf("the backend had up to %d change stream getMores on the collection in progress at once, want 1", most)
	}
	idle := serverFigures(t, srv)

	pad := strings.Repeat("x", 300)
	start := time.Now()
	for i := range events {
		for slowest(readers) < i-ahead {
			time.Sleep(time.Millisecond)
		}
		if _, err := coll.InsertOne(ctx, append(doc(i), bson.E{Key: "pad", Value: pad})); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range readers {
		r.waitFor(t, events, time.Minute)
		got, err := r.snapshot()
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		for j, e := range got {
			if e.OperationType != "insert" || int(e.DocumentKey.ID) != j {
				t.Fatalf("subscriber %d: event %d is %v, want insert %d", i, j, e, j)
			}
		}
	}
	elapsed := time.Since(start)
	busy := serverFigures(t, srv)

	testkit.WaitFor(t, time.Minute, "the slow subscriber cut", func() error {
		if n := metric(t, srv, "mongogate_watch_slow_cut_total"); n != 1 {
			return fmt.Errorf("mongogate_watch_slow_cut_total = %v", n)
		}
		return nil
	})
	if n := metric(t, srv, "mongogate_watch_streams_open"); n != 1 {
		t.Errorf("mongogate_watch_streams_open = %v after the events, want 1", n)
	}
	close(slow.pause)
	slow.waitFor(t, events, time.Minute)
	got, err := slow.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for j, e := range got {
		if int(e.DocumentKey.ID) != j {
			t.Fatalf("slow subscriber: event %d is %v, want insert %d", j, e, j)
		}
	}
	if slowCS.Resumes() == 0 {
		t.Error("the slow subscriber never resumed")
	}
	delivered := metric(t, srv, "mongogate_watch_events_delivered_total")

	for _, r := range readers {
		_ = r.cs.Close(ctx)
	}
	_ = slowCS.Close(ctx)
	testkit.WaitFor(t, 30*time.Second, "subscribers gone", func() error {
		if n := metric(t, srv, "mongogate_watch_subscribers"); n != 0 {
			return fmt.Errorf("%v subscribers", n)
		}
		return nil
	})
	var after figures
	testkit.WaitFor(t, 30*time.Second, "goroutines back", func() error {
		after = serverFigures(t, srv)
		if after.goroutines > before.goroutines+50 {
			return fmt.Errorf("%v goroutines, %v before the subscribers", after.goroutines, before.goroutines)
		}
		return nil
	})

	perSub := func(a, b float64) float64 { return (b - a) / (subscribers + 1) }
	t.Logf("server: goroutines %v before, %v with %d idle subscribers (%.2f each), %v after they left",
		before.goroutines, idle.goroutines, subscribers+1, perSub(before.goroutines, idle.goroutines), after.goroutines)
	t.Logf("server: heap in use %.1f MiB before, %.1f MiB idle (%.1f KiB per subscriber), %.1f MiB after %d events; RSS %.1f MiB busy",
		mib(before.heap), mib(idle.heap), perSub(before.heap, idle.heap)/1024, mib(busy.heap), events, mib(busy.rss))
	t.Logf("%v events delivered in %v (%.0f events/s to %d subscribers, writer paced to the slowest reader); slow subscriber cut once and resumed %d time(s)",
		delivered, elapsed.Round(time.Millisecond), float64(subscribers*events)/elapsed.Seconds(), subscribers, slowCS.Resumes())
	if g := perSub(before.goroutines, idle.goroutines); g > 1.5 {
		t.Errorf("%.2f server goroutines per subscriber, want at most 1.5 (the call's own)", g)
	}
	if h := perSub(before.heap, idle.heap); h > 64<<10 {
		t.Errorf("%.0f bytes of server heap per idle subscriber, want under 64 KiB", h)
	}
}

func slowest(rs []*reader) int {
	n := -1
	for _, r := range rs {
		if c := r.count(); n < 0 || c < n {
			n = c
		}
	}
	return n
}

type figures struct{ goroutines, heap, rss float64 }

func serverFigures(t *testing.T, s *proctest.Server) figures {
	t.Helper()
	return figures{
		goroutines: metric(t, s, "go_goroutines"),
		heap:       metric(t, s, "go_memstats_heap_inuse_bytes"),
		rss:        metric(t, s, "process_resident_memory_bytes"),
	}
}

func mib(b float64) float64 { return b / (1 << 20) }
