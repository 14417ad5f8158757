package watch

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

var bench = flag.Bool("watch.bench", false, "run TestBenchWatch: Watch's write-to-delivery latency and delivery rate")

// TestBenchWatch measures, over real processes (cmd/emulator, cmd/server,
// this process as writer and subscribers), for 1 and 1,000 subscribers of
// one collection: write-to-delivery latency (InsertOne of a document
// carrying its send time, to the subscriber decoding the event) at a
// steady write rate they keep up with, and the rate of delivered events
// when the writer inserts batches of 50 documents as fast as the slowest
// subscriber allows (it stays at most 512 events ahead of it). The writer
// is the driver, straight to the emulator, so that the figures are those
// of delivery. The subscribers share the machine with the server and the
// emulator, so the figures include their own decoding.
//
// One subscriber is measured twice in alternating rounds on each side:
// through mongogate (the Go client's Watch) and direct (the driver's own
// change stream on the emulator), so that mg/direct is what mongogate
// adds. A thousand are measured through mongogate only: direct, they
// would be a thousand change streams on the backend, which is what
// mongogate's fan-out is there to spare it.
//
//	go test ./test/watch -run TestBenchWatch -watch.bench -v
func TestBenchWatch(t *testing.T) {
	if !*bench {
		t.Skip("a benchmark: run with -watch.bench")
	}
	_, uri := proctest.Emulator(t, bins)
	srv := proctest.StartServer(t, bins, uri)
	ctx := testCtx(t, 10*time.Minute)
	db := testbackend.DBName(t)
	mg := mustClient(t, srv.Addr).Database(db)
	direct := testbackend.Client(t, uri).Database(db)
	sides := map[string]func(ctx context.Context, coll string) (eventStream, error){
		"mongogate": func(ctx context.Context, coll string) (eventStream, error) {
			return mg.Collection(coll).Watch(ctx, nil)
		},
		"direct": func(ctx context.Context, coll string) (eventStream, error) {
			cs, err := direct.Collection(coll).Watch(ctx, mongo.Pipeline{})
			return driverStream{cs}, err
		},
	}

	one := map[string]*watchFigures{}
	for round := range 2 {
		for _, side := range []string{"mongogate", "direct"} {
			f := measureWatch(ctx, t, sides[side], direct.Collection(fmt.Sprintf("items_%s_%d", side, round)), 1)
			if one[side] == nil {
				one[side] = &watchFigures{}
			}
			one[side].add(f)
		}
	}
	m, d := one["mongogate"], one["direct"]
	t.Logf("1 subscriber, mongogate / direct: write-to-delivery p50 %v / %v (%.2f), p99 %v / %v (%.2f); %.0f / %.0f events/s delivered (%.2f)",
		m.pct(0.5), d.pct(0.5), ratio(m.pct(0.5), d.pct(0.5)), m.pct(0.99), d.pct(0.99), ratio(m.pct(0.99), d.pct(0.99)),
		m.rate(), d.rate(), m.rate()/d.rate())

	var many watchFigures
	many.add(measureWatch(ctx, t, sides["mongogate"], direct.Collection("items_fanout"), 1000))
	t.Logf("1000 subscribers, mongogate: write-to-delivery p50 %v, p99 %v; %.0f events/s delivered; %v streams open",
		many.pct(0.5), many.pct(0.99), many.rate(), metric(t, srv, "mongogate_watch_streams_open"))
}

// watchFigures are the latencies and delivery of one side, over rounds.
type watchFigures struct {
	lat       []time.Duration
	delivered int
	elapsed   time.Duration
}

func (w *watchFigures) add(o watchFigures) {
	w.lat = append(w.lat, o.lat...)
	w.delivered += o.delivered
	w.elapsed += o.elapsed
}

func (w *watchFigures) pct(p float64) time.Duration {
	slices.Sort(w.lat)
	return w.lat[int(p*float64(len(w.lat)-1))].Round(10 * time.Microsecond)
}

func (w *watchFigures) rate() float64 { return float64(w.delivered) / w.elapsed.Seconds() }

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// measureWatch opens subs subscribers of coll with open, writes to coll
// at a steady rate they keep up with, then in bursts, and returns what
// they received.
func measureWatch(ctx context.Context, t *testing.T, open func(ctx context.Context, coll string) (eventStream, error), coll *mongo.Collection, subs int) watchFigures {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var readers []*reader
	defer func() {
		// The driver's change stream is not safe for concurrent use: its
		// reader stops before it is closed.
		cancel()
		for _, r := range readers {
			<-r.done
			_ = r.cs.Close(context.Background())
		}
	}()
	for range subs {
		cs, err := open(ctx, coll.Name())
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, startReader(ctx, cs, false))
	}

	// A write rate the subscribers keep up with, so that latency is not
	// time spent queueing: 200/s for one, 20/s (20,000 deliveries/s) for
	// a thousand.
	steady, every := 400, 5*time.Millisecond
	if subs > 1 {
		steady, every = 100, 50*time.Millisecond
	}
	tick := time.NewTicker(every)
	for i := range steady {
		<-tick.C
		if _, err := coll.InsertOne(ctx, doc(i)); err != nil {
			t.Fatal(err)
		}
	}
	tick.Stop()
	var f watchFigures
	for _, r := range readers {
		r.waitFor(t, steady, time.Minute)
		r.mu.Lock()
		f.lat = append(f.lat, r.lat...)
		r.mu.Unlock()
	}

	burst := 5000
	if subs > 1 {
		burst = 500
	}
	const batch = 50
	start := time.Now()
	for i := steady; i < steady+burst; i += batch {
		for slowest(readers) < i-512 {
			time.Sleep(100 * time.Microsecond)
		}
		docs := make([]any, batch)
		for k := range docs {
			docs[k] = doc(i + k)
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range readers {
		r.waitFor(t, steady+burst, 2*time.Minute)
	}
	f.elapsed = time.Since(start)
	f.delivered = subs * burst
	t.Logf("%d subscriber(s) on %s: %d deliveries at %.0f writes/s, then %d documents in InsertMany batches of 50 in %v",
		subs, coll.Name(), len(f.lat), float64(time.Second)/float64(every), burst, f.elapsed.Round(time.Millisecond))
	return f
}
