package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// counts is an Observer that counts.
type counts struct {
	streams, subs, delivered, cut atomic.Int64
}

func (c *counts) StreamsOpen(d int)   { c.streams.Add(int64(d)) }
func (c *counts) Subscribers(d int)   { c.subs.Add(int64(d)) }
func (c *counts) Delivered()          { c.delivered.Add(1) }
func (c *counts) CutSlow()            { c.cut.Add(1) }
func (c *counts) Lag(d time.Duration) {}

type fixture struct {
	hub    *Hub
	client *mongo.Client
	obs    *counts
	db     string
}

func mustHub(t *testing.T, cfg Config, emu emulator.Config) *fixture {
	t.Helper()
	var uri string
	if emu == (emulator.Config{}) {
		uri = testbackend.URI(t)
	} else {
		if testbackend.External() {
			t.Skip("needs the emulator's settings")
		}
		uri = testbackend.Start(t, emu).URI()
	}
	c := testbackend.Client(t, uri)
	f := &fixture{client: c, obs: &counts{}, db: testbackend.DBName(t)}
	cfg.Client = func(string) (*mongo.Client, bool) { return c, true }
	cfg.Key = KeyFromCollection(c.Database(f.db).Collection("keys"))
	cfg.Observer = f.obs
	if cfg.MaxAwait == 0 {
		cfg.MaxAwait = 100 * time.Millisecond
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	f.hub = h
	return f
}

func (f *fixture) spec() Spec { return Spec{Backend: "default", Database: f.db, Collection: "items"} }

func (f *fixture) insert(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := f.client.Database(f.db).Collection("items").InsertOne(context.Background(), bson.D{{Key: "_id", Value: int32(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustSubscribe(t *testing.T, h *Hub, spec Spec, start Start) *Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.Subscribe(ctx, spec, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// collect reads n events from s (skipping heartbeats) and returns their
// document _ids and the last token.
func collect(t *testing.T, s *Subscription, n int) ([]int32, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []int32
	tok := ""
	for len(ids) < n {
		ev, err := s.Next(ctx, time.Second)
		if err != nil {
			t.Fatalf("after %d events: %v", len(ids), err)
		}
		tok = ev.Token
		if ev.Heartbeat() {
			continue
		}
		ids = append(ids, ev.Doc.Lookup("documentKey", "_id").Int32())
	}
	return ids, tok
}

func want(t *testing.T, got []int32, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d events %v, want ids %d..%d", len(got), got, from, to-1)
	}
	for i, id := range got {
		if int(id) != from+i {
			t.Fatalf("event %d has id %d, want %d (got %v)", i, id, from+i, got)
		}
	}
}

// Subscribers of one Spec share one MongoDB change stream and each
// receives every event in order.
func TestSharedStream(t *testing.T) {
	f := mustHub(t, Config{}, emulator.Config{})
	const subs, events = 50, 30
	var ss []*Subscription
	for range subs {
		ss = append(ss, mustSubscribe(t, f.hub, f.spec(), Start{}))
	}
	if n := f.obs.streams.Load(); n != 1 {
		t.Fatalf("%d MongoDB change streams open for %d subscribers, want 1", n, subs)
	}
	f.insert(t, 0, events)
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Go(func() {
			got, _ := collect(t, s, events)
			want(t, got, 0, events)
		})
	}
	wg.Wait()
	if n := f.obs.delivered.Load(); n != subs*events {
		t.Errorf("delivered %d, want %d", n, subs*events)
	}
}

// A subscriber resuming from behind the head catches up on a stream of its
// own, then joins the shared one, without gap or duplicate, while events
// keep coming.
func TestCatchUpJoins(t *testing.T) {
	f := mustHub(t, Config{}, emulator.Config{})
	head := mustSubscribe(t, f.hub, f.spec(), Start{})
	f.insert(t, 0, 10)
	_, tok := collect(t, head, 3) // the token of event 2
	f.insert(t, 10, 20)
	late := mustSubscribe(t, f.hub, f.spec(), Start{ResumeAfter: tok})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.insert(t, 20, 40)
	}()
	got, _ := collect(t, late, 37)
	<-done
	want(t, got, 3, 40)
	testkit.WaitFor(t, 5*time.Second, "the catch-up stream closed", func() error {
		if n := f.obs.streams.Load(); n != 1 {
			return fmt.Errorf("%d streams open", n)
		}
		return nil
	})
	// Nothing more after 39 until the next write.
	f.insert(t, 40, 41)
	got, _ = collect(t, late, 1)
	want(t, got, 40, 41)
}

// A subscriber that does not read is cut when its queue fills, with the
// token of the last message it took; the others are not held back, and
// resuming from the token loses nothing.
func TestSlowSubscriberCut(t *testing.T) {
	f := mustHub(t, Config{Queue: 256}, emulator.Config{})
	slow := mustSubscribe(t, f.hub, f.spec(), Start{})
	fast := mustSubscribe(t, f.hub, f.spec(), Start{})
	f.insert(t, 0, 2)
	_, _ = collect(t, slow, 2)
	const n = 600
	done := make(chan []int32, 1)
	go func() {
		var got []int32
		defer func() { done <- got }()
		got, _ = collect(t, fast, n)
	}()
	f.insert(t, 2, n)
	want(t, <-done, 0, n)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := slow.Next(ctx, time.Second)
	var se *SlowError
	if !errors.As(err, &se) || se.Token == "" {
		t.Fatalf("Next after overflow = %v, want a SlowError with a token", err)
	}
	if f.obs.cut.Load() != 1 {
		t.Errorf("cut = %d, want 1", f.obs.cut.Load())
	}
	again := mustSubscribe(t, f.hub, f.spec(), Start{ResumeAfter: se.Token})
	got, _ := collect(t, again, n-2)
	want(t, got, 2, n)
}

// Tokens are bound to their Spec and cannot be forged.
func TestTokens(t *testing.T) {
	f := mustHub(t, Config{}, emulator.Config{})
	s := mustSubscribe(t, f.hub, f.spec(), Start{})
	f.insert(t, 0, 1)
	_, tok := collect(t, s, 1)
	ctx := context.Background()
	other := f.spec()
	other.Pipeline = []bson.Raw{bson.Raw(mustMarshal(t, bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}))}
	forged := tok[:len(tok)-4] + "AAAA"
	for name, c := range map[string]struct {
		spec  Spec
		token string
	}{
		"another pipeline":   {other, tok},
		"another collection": {Spec{Backend: "default", Database: f.db, Collection: "other"}, tok},
		"forged":             {f.spec(), forged},
		"garbage":            {f.spec(), "mgw1!!"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.hub.Subscribe(ctx, c.spec, Start{ResumeAfter: c.token}); !errors.Is(err, ErrBadToken) {
				t.Fatalf("Subscribe = %v, want ErrBadToken", err)
			}
		})
	}
	// The same key, loaded by another hub (another instance), verifies it.
	h2, err := New(Config{Client: f.hub.cfg.Client, Key: KeyFromCollection(f.client.Database(f.db).Collection("keys"))})
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close(ctx)
	s2 := mustSubscribe(t, h2, f.spec(), Start{ResumeAfter: tok})
	f.insert(t, 1, 2)
	got, _ := collect(t, s2, 1)
	want(t, got, 1, 2)
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A start position that left the oplog is ErrHistoryLost.
func TestHistoryLost(t *testing.T) {
	f := mustHub(t, Config{}, emulator.Config{OplogSize: 10})
	s := mustSubscribe(t, f.hub, f.spec(), Start{})
	f.insert(t, 0, 1)
	_, tok := collect(t, s, 1)
	f.insert(t, 1, 40)
	_, err := f.hub.Subscribe(context.Background(), f.spec(), Start{ResumeAfter: tok})
	if !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("Subscribe = %v, want ErrHistoryLost", err)
	}
}

// Dropping the collection gives drop, then invalidate, then the end.
func TestInvalidate(t *testing.T) {
	f := mustHub(t, Config{}, emulator.Config{})
	s := mustSubscribe(t, f.hub, f.spec(), Start{})
	f.insert(t, 0, 1)
	if err := f.client.Database(f.db).Collection("items").Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ops []string
	for {
		ev, err := s.Next(ctx, time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ev.Heartbeat() {
			ops = append(ops, ev.OperationType)
		}
	}
	if fmt.Sprint(ops) != "[insert drop invalidate]" {
		t.Fatalf("events %v, want insert, drop, invalidate", ops)
	}
	testkit.WaitFor(t, 5*time.Second, "the invalidated stream closed", func() error {
		if n := f.hub.Streams(); n != 0 {
			return fmt.Errorf("%d streams", n)
		}
		return nil
	})
}

// The shared stream closes a linger after its last subscriber leaves.
func TestLinger(t *testing.T) {
	f := mustHub(t, Config{Linger: 50 * time.Millisecond}, emulator.Config{})
	s := mustSubscribe(t, f.hub, f.spec(), Start{})
	s.Close()
	testkit.WaitFor(t, 5*time.Second, "the stream closed", func() error {
		if n := f.obs.streams.Load(); n != 0 {
			return fmt.Errorf("%d streams open", n)
		}
		return nil
	})
	if n := f.obs.subs.Load(); n != 0 {
		t.Errorf("%d subscribers", n)
	}
}
