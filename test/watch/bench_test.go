package watch

import (
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

var bench = flag.Bool("watch.bench", false, "run TestBenchWatch: Watch's write-to-delivery latency and delivery rate")

// TestBenchWatch measures, over real processes (cmd/emulator, cmd/server,
// this process as writer and subscribers), for 1 and 1,000 subscribers of
// one collection: write-to-delivery latency (InsertOne of a document
// carrying its send time, to the subscriber decoding the event) at a
// steady write rate they keep up with, and the rate of delivered events when the writer
// inserts batches of 50 documents as fast as the slowest subscriber
// allows (it stays at most 512 events ahead of it). The subscribers share the
// machine with the server and the emulator, so the figures include their
// own decoding.
//
//	go test ./test/watch -run TestBenchWatch -watch.bench -v
func TestBenchWatch(t *testing.T) {
	if !*bench {
		t.Skip("a benchmark: run with -watch.bench")
	}
	for _, subs := range []int{1, 1000} {
		t.Run(fmt.Sprint(subs), func(t *testing.T) {
			_, uri := proctest.Emulator(t, bins)
			srv := proctest.StartServer(t, bins, uri)
			ctx := testCtx(t, 5*time.Minute)
			coll := mustClient(t, srv.Addr).Database(testbackend.DBName(t)).Collection("items")
			readers := make([]*reader, subs)
			for i := range readers {
				cs, err := coll.Watch(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close(ctx)
				readers[i] = startReader(ctx, cs, false)
			}

			// A write rate the subscribers keep up with, so that latency
			// is not time spent queueing: 200/s for one, 20/s (20,000
			// deliveries/s) for a thousand.
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
			var lat []time.Duration
			for _, r := range readers {
				r.waitFor(t, steady, time.Minute)
				r.mu.Lock()
				lat = append(lat, r.lat...)
				r.mu.Unlock()
			}
			slices.Sort(lat)
			pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }

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
			elapsed := time.Since(start)
			t.Logf("%d subscriber(s): write-to-delivery p50 %v, p99 %v (%d deliveries at %.0f writes/s); %.0f events/s delivered (%d documents in InsertMany batches of 50, as fast as the slowest subscriber allows, %v); %v streams open",
				subs, pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), len(lat), float64(time.Second)/float64(every),
				float64(subs*burst)/elapsed.Seconds(), burst, elapsed.Round(time.Millisecond), metric(t, srv, "mongogate_watch_streams_open"))
		})
	}
}
