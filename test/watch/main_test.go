// Package watch tests WatchService end to end, over real processes (one
// cmd/emulator, cmd/server instances, nginx): resuming across instances,
// one MongoDB change stream for a thousand subscribers, the terminal and
// refused cases, and (with -watch.bench) the delivery latency and rate.
package watch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
)

var bins proctest.Binaries

func TestMain(m *testing.M) { proctest.Main(m, &bins) }

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustClient(t *testing.T, target string, opts ...mongogate.Option) *mongogate.Client {
	t.Helper()
	c, err := mongogate.New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func metric(t *testing.T, s *proctest.Server, name string) float64 {
	t.Helper()
	v, _ := promtest.Scrape(t, s.MetricsURL).Value(name)
	return v
}

// event is what the tests read of a change event.
type event struct {
	OperationType string `bson:"operationType"`
	DocumentKey   struct {
		ID int32 `bson:"_id"`
	} `bson:"documentKey"`
	FullDocument struct {
		Sent int64 `bson:"sent"`
	} `bson:"fullDocument"`
}

func (e event) String() string { return fmt.Sprintf("%s %d", e.OperationType, e.DocumentKey.ID) }

// reader collects a ChangeStream's events in a goroutine, de-duplicated
// by resume token, until its context ends.
type reader struct {
	cs     eventStream
	mu     sync.Mutex
	events []event
	lat    []time.Duration // write-to-delivery, of events with a sent time
	seen   map[string]bool
	dups   int
	err    error
	done   chan struct{}
	pause  chan struct{} // while open, the reader waits before reading
}

// eventStream is what a reader reads: mongogate's ChangeStream, or the
// driver's own (driverStream).
type eventStream interface {
	Next(ctx context.Context) bool
	Decode(v any) error
	ResumeToken() string
	Err() error
	Close(ctx context.Context) error
}

// driverStream is a change stream of the driver itself, read as an
// eventStream.
type driverStream struct{ *mongo.ChangeStream }

func (d driverStream) ResumeToken() string { return string(d.ChangeStream.ResumeToken()) }

func startReader(ctx context.Context, cs eventStream, paused bool) *reader {
	r := &reader{cs: cs, seen: map[string]bool{}, done: make(chan struct{})}
	if paused {
		r.pause = make(chan struct{})
	}
	go func() {
		defer close(r.done)
		if r.pause != nil {
			select {
			case <-r.pause:
			case <-ctx.Done():
				return
			}
		}
		for cs.Next(ctx) {
			var ev event
			err := cs.Decode(&ev)
			now := time.Now()
			r.mu.Lock()
			switch tok := cs.ResumeToken(); {
			case err != nil:
				r.err = err
			case r.seen[tok]:
				r.dups++
			default:
				r.seen[tok] = true
				r.events = append(r.events, ev)
				if ev.FullDocument.Sent != 0 {
					r.lat = append(r.lat, now.Sub(time.Unix(0, ev.FullDocument.Sent)))
				}
			}
			r.mu.Unlock()
		}
		if ctx.Err() == nil {
			r.mu.Lock()
			r.err = cs.Err()
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func (r *reader) snapshot() ([]event, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...), r.err
}

func (r *reader) waitFor(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for r.count() < n {
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			t.Fatalf("reader ended after %d events: %v", r.count(), err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events within %v, want %d", r.count(), within, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func doc(id int) bson.D {
	return bson.D{{Key: "_id", Value: int32(id)}, {Key: "sent", Value: time.Now().UnixNano()}}
}
