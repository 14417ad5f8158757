// Package watch fans MongoDB change streams out to many subscribers.
//
// A Hub keeps, per instance, one MongoDB change stream per distinct Spec
// (backend, scope, pipeline, options), shared by every subscriber that is
// at its head. A subscriber that starts from an earlier position (a resume
// token, a cluster time) reads a private catch-up stream of its own until
// it reaches the shared stream's head, then joins it; positions (MongoDB's
// resume tokens, which sort in stream order) decide what each subscriber
// has had, so the switch has neither gap nor duplicate.
//
// Each subscriber has a bounded queue. The shared stream never waits for a
// subscriber: one whose queue is full is cut (SlowError, with the token of
// the last message it was given, from which it resumes without loss). A
// catch-up stream, private, waits for its subscriber instead.
//
// The MongoDB cursors live in contexts owned by the Hub, not by any call:
// a shared stream outlives the subscribers that come and go, and is closed
// (with a context of its own) a short linger after its last one leaves.
//
// Every message a subscriber receives carries a resume token that any
// instance sharing the key accepts (see sign and KeyFromCollection).
package watch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/crud"
)

// Defaults of Config.
const (
	DefaultQueue       = 1024
	DefaultMaxAwait    = time.Second
	DefaultLinger      = 5 * time.Second
	DefaultOpenTimeout = 30 * time.Second
)

// closeTimeout bounds the killCursors of a stream being closed.
const closeTimeout = 10 * time.Second

// codeHistoryLost is MongoDB's ChangeStreamHistoryLost.
const codeHistoryLost = 286

// Observer receives the Hub's measurements (server.WatchMetrics); every
// method must be safe for concurrent use.
type Observer interface {
	// StreamsOpen moves the number of MongoDB change streams open, shared
	// and catch-up alike.
	StreamsOpen(delta int)
	// Subscribers moves the number of subscribers.
	Subscribers(delta int)
	// Delivered counts an event given to a subscriber.
	Delivered()
	// CutSlow counts a subscriber cut for falling behind.
	CutSlow()
	// Lag is how old an event is when its shared stream reads it: now
	// minus its wall time (its cluster time when it has none).
	Lag(d time.Duration)
}

// Config configures a Hub.
type Config struct {
	// Client returns the driver client of a backend, false if there is
	// none by that name. Required.
	Client func(backend string) (*mongo.Client, bool)
	// Key returns the key that signs resume tokens, the same on every
	// instance (KeyFromSecret, KeyFromCollection). It is called until it
	// succeeds once. Required.
	Key func(ctx context.Context) ([]byte, error)
	// Queue is how many messages may wait for a subscriber before it is
	// cut; default DefaultQueue.
	Queue int
	// MaxAwait is how long each getMore of a stream waits for events
	// (MongoDB's maxAwaitTimeMS), so also how often a quiet stream's
	// position moves on; default DefaultMaxAwait.
	MaxAwait time.Duration
	// Linger is how long a shared stream stays open after its last
	// subscriber left, for the next one; default DefaultLinger.
	Linger time.Duration
	// OpenTimeout bounds opening a MongoDB change stream; default
	// DefaultOpenTimeout.
	OpenTimeout time.Duration
	// Observer receives measurements; nil discards them.
	Observer Observer
	// Logger; nil discards.
	Logger *slog.Logger
}

// Hub shares change streams among subscribers. It is safe for concurrent
// use.
type Hub struct {
	cfg    Config
	keys   keyring
	obs    Observer
	log    *slog.Logger
	base   context.Context // the cursors' context; canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // stream and catch-up loops

	mu      sync.Mutex
	streams map[[32]byte]*stream
	closed  bool
}

// New checks cfg and returns a Hub with no stream open.
func New(cfg Config) (*Hub, error) {
	if cfg.Client == nil || cfg.Key == nil {
		return nil, errors.New("watch: Client and Key are required")
	}
	if cfg.Queue < 0 || cfg.MaxAwait < 0 || cfg.Linger < 0 || cfg.OpenTimeout < 0 {
		return nil, errors.New("watch: negative Queue, MaxAwait, Linger or OpenTimeout")
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.MaxAwait == 0 {
		cfg.MaxAwait = DefaultMaxAwait
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	h := &Hub{cfg: cfg, keys: keyring{load: cfg.Key}, obs: cfg.Observer, log: cfg.Logger, streams: map[[32]byte]*stream{}}
	if h.obs == nil {
		h.obs = nopObserver{}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.base, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Streams is the number of shared streams open now.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Close ends every subscription with ErrClosed and closes every MongoDB
// cursor, waiting for them within ctx. Subscribe fails afterwards.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	var sts []*stream
	for _, st := range h.streams {
		sts = append(sts, st)
	}
	h.mu.Unlock()
	for _, st := range sts {
		st.finish(ErrClosed)
	}
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("watch: close: %w", ctx.Err())
	}
}

// Subscribe starts a subscription to spec's events from start. A token in
// start that was issued for another Spec, or not by mongogate, is
// ErrBadToken; MongoDB's refusal to open the stream (a bad pipeline, a
// start position out of the oplog: ErrHistoryLost) is returned here.
// Close the subscription when done.
func (h *Hub) Subscribe(ctx context.Context, spec Spec, start Start) (*Subscription, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if start.count() > 1 {
		return nil, fmt.Errorf("%w: more than one start position", ErrSpec)
	}
	client, ok := h.cfg.Client(spec.Backend)
	if !ok {
		return nil, fmt.Errorf("%w: no backend %q", ErrSpec, spec.Backend)
	}
	key, err := h.keys.get(ctx)
	if err != nil {
		return nil, err
	}
	bind := spec.binding()
	var from mongoStart
	switch {
	case start.ResumeAfter != "":
		if from.resumeAfter, err = verify(key, bind, start.ResumeAfter); err != nil {
			return nil, err
		}
	case start.StartAfter != "":
		if from.startAfter, err = verify(key, bind, start.StartAfter); err != nil {
			return nil, err
		}
	case start.AtOperationTime != nil:
		from.at = start.AtOperationTime
	}
	var st *stream
	for {
		if st, err = h.acquire(ctx, spec, bind, client, key); err != nil {
			return nil, err
		}
		st.mu.Lock()
		if !st.done {
			break
		}
		// It ended since acquire; the next acquire opens another.
		st.refs--
		st.mu.Unlock()
	}
	sub := &Subscription{hub: h, st: st, limit: h.cfg.Queue, notify: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	h.obs.Subscribers(1)
	catchUp := false
	switch {
	case from.zero():
		sub.last = st.head
		if st.headEv != nil {
			sub.items = append(sub.items, st.headEv)
		}
		st.subs[sub] = struct{}{}
	case from.resumeAfter != nil && st.head != "" && position(from.resumeAfter) >= st.head:
		// The first message says the stream is open: the caller's own
		// position, as a heartbeat.
		sub.last = position(from.resumeAfter)
		sub.items = append(sub.items, &Event{Token: start.ResumeAfter, pos: sub.last})
		st.subs[sub] = struct{}{}
	default:
		catchUp = true
	}
	st.mu.Unlock()
	if !catchUp {
		return sub, nil
	}
	cctx, cancel := context.WithCancel(h.base)
	sub.cancel = cancel
	octx, ocancel := context.WithTimeout(cctx, h.cfg.OpenTimeout)
	stop := context.AfterFunc(ctx, ocancel)
	cs, err := spec.open(octx, client, from, h.cfg.MaxAwait, 0)
	stop()
	ocancel()
	if err != nil {
		sub.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, mongoError(err)
	}
	h.obs.StreamsOpen(1)
	if tok := cs.ResumeToken(); tok != nil {
		// An empty first batch: its position says the stream is open.
		sub.mu.Lock()
		sub.add(&Event{Token: sign(key, bind, tok), pos: position(tok)})
		sub.mu.Unlock()
	}
	h.wg.Add(1)
	go h.catchUp(cctx, sub, cs, key, bind)
	return sub, nil
}

// acquire returns spec's shared stream, opening it if there is none, with
// a reference taken for a new subscriber.
func (h *Hub) acquire(ctx context.Context, spec Spec, bind [32]byte, client *mongo.Client, key []byte) (*stream, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		st := h.streams[bind]
		if st == nil {
			st = &stream{hub: h, spec: spec, bind: bind, key: key, ready: make(chan struct{}), subs: map[*Subscription]struct{}{}}
			h.streams[bind] = st
			h.mu.Unlock()
			st.open(client)
		} else {
			h.mu.Unlock()
		}
		select {
		case <-st.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if st.openErr != nil {
			return nil, st.openErr
		}
		st.mu.Lock()
		if st.done {
			st.mu.Unlock()
			continue
		}
		st.refs++
		if st.linger != nil {
			st.linger.Stop()
			st.linger = nil
		}
		st.mu.Unlock()
		return st, nil
	}
}

// catchUp feeds sub from its private stream cs until it reaches the
// shared stream's head, then joins the shared stream.
func (h *Hub) catchUp(ctx context.Context, sub *Subscription, cs *mongo.ChangeStream, key []byte, bind [32]byte) {
	defer h.wg.Done()
	defer h.closeCursor(cs)
	st := sub.st
	for {
		ev, err := readNext(ctx, cs, key, bind)
		if err == nil && ev == nil {
			continue
		}
		if err == nil {
			err = sub.push(ctx, ev)
		}
		if err != nil {
			if h.base.Err() != nil {
				err = ErrClosed
			}
			sub.finish(err)
			return
		}
		if ev.Invalidate() {
			sub.finish(io.EOF)
			return
		}
		if ev.pos == "" {
			continue
		}
		st.mu.Lock()
		switch {
		case st.done:
			if e := st.endErr(); !errors.Is(e, io.EOF) {
				st.mu.Unlock()
				sub.finish(e)
				return
			}
			// The shared stream was invalidated; so will this one be.
		case ev.pos >= st.head:
			// Everything up to sub.last (>= ev.pos >= head) sub has had;
			// the shared stream offers what comes after head, and sub
			// skips what it has had.
			if !sub.closedNow() {
				st.subs[sub] = struct{}{}
			}
			st.mu.Unlock()
			return
		}
		st.mu.Unlock()
	}
}

func (h *Hub) closeCursor(cs *mongo.ChangeStream) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := cs.Close(ctx); err != nil {
		h.log.Debug("watch: closing a change stream", "err", err)
	}
	h.obs.StreamsOpen(-1)
}

// stream is one shared MongoDB change stream and its subscribers.
type stream struct {
	hub  *Hub
	spec Spec
	bind [32]byte
	key  []byte

	ready   chan struct{} // closed once open has finished
	openErr error         // set before ready closes

	mu     sync.Mutex
	subs   map[*Subscription]struct{} // the subscribers at the head
	refs   int                        // subscribers, at the head or catching up
	head   string                     // position of the last message
	headEv *Event                     // and the message
	done   bool
	end    error
	linger *time.Timer
}

// errIdle ends a stream that lost its last subscriber.
var errIdle = errors.New("watch: stream closed for want of subscribers")

func (st *stream) endErr() error { return st.end }

// open opens the MongoDB change stream at the current time and starts
// reading it; it closes ready either way.
func (st *stream) open(client *mongo.Client) {
	h := st.hub
	defer close(st.ready)
	ctx, cancel := context.WithTimeout(h.base, h.cfg.OpenTimeout)
	defer cancel()
	cs, err := st.spec.open(ctx, client, mongoStart{}, h.cfg.MaxAwait, 0)
	if err != nil {
		st.openErr = mongoError(err)
		h.mu.Lock()
		if h.streams[st.bind] == st {
			delete(h.streams, st.bind)
		}
		h.mu.Unlock()
		return
	}
	h.obs.StreamsOpen(1)
	if tok := cs.ResumeToken(); tok != nil {
		st.head = position(tok)
		st.headEv = &Event{Token: sign(st.key, st.bind, tok), pos: st.head}
	}
	h.log.Debug("watch: shared change stream opened", "backend", st.spec.Backend, "scope", st.spec.Scope())
	h.wg.Add(1)
	go st.run(cs)
}

// run reads the stream and offers every message to the subscribers at
// the head, until the stream ends.
func (st *stream) run(cs *mongo.ChangeStream) {
	h := st.hub
	defer h.wg.Done()
	defer h.closeCursor(cs)
	for {
		st.mu.Lock()
		done := st.done
		st.mu.Unlock()
		if done {
			return
		}
		ev, err := readNext(h.base, cs, st.key, st.bind)
		if err != nil {
			if h.base.Err() != nil {
				err = ErrClosed
			}
			st.finish(err)
			return
		}
		if ev == nil {
			continue
		}
		st.publish(ev)
		if ev.Invalidate() {
			st.finish(io.EOF)
			return
		}
	}
}

// publish offers ev to every subscriber at the head; one whose queue is
// full is cut, never waited for.
func (st *stream) publish(ev *Event) {
	h := st.hub
	st.mu.Lock()
	if ev.pos != "" {
		st.head, st.headEv = ev.pos, ev
	}
	for sub := range st.subs {
		if !sub.offer(ev) {
			delete(st.subs, sub)
			h.obs.CutSlow()
		}
	}
	st.mu.Unlock()
	if !ev.Heartbeat() {
		if t := ev.when(); !t.IsZero() {
			h.obs.Lag(time.Since(t))
		}
	}
}

// finish ends the stream with err (io.EOF: invalidated) and every
// subscriber at its head, after what is queued for them.
func (st *stream) finish(err error) {
	h := st.hub
	h.mu.Lock()
	if h.streams[st.bind] == st {
		delete(h.streams, st.bind)
	}
	h.mu.Unlock()
	st.mu.Lock()
	if st.done {
		st.mu.Unlock()
		return
	}
	st.done, st.end = true, err
	subs := st.subs
	st.subs = map[*Subscription]struct{}{}
	st.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, ErrClosed) {
		h.log.Warn("watch: shared change stream failed", "backend", st.spec.Backend, "scope", st.spec.Scope(), "err", err)
	}
	for sub := range subs {
		sub.finish(err)
	}
}

// release drops sub's reference; the last one starts the linger.
func (st *stream) release(sub *Subscription) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.subs, sub)
	st.refs--
	if st.refs == 0 && !st.done {
		st.linger = time.AfterFunc(st.hub.cfg.Linger, st.idle)
	}
}

// idle closes the stream if nobody came back during the linger. Its loop
// sees done after its current getMore and closes the cursor.
func (st *stream) idle() {
	h := st.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.refs > 0 || st.done {
		return
	}
	st.done, st.end = true, errIdle
	if h.streams[st.bind] == st {
		delete(h.streams, st.bind)
	}
}

// readNext reads one message from cs: the next event, else (after an
// empty getMore) a heartbeat at the position MongoDB has read up to, or
// nil when there is no position yet.
func readNext(ctx context.Context, cs *mongo.ChangeStream, key []byte, bind [32]byte) (*Event, error) {
	if cs.TryNext(ctx) {
		doc := make(bson.Raw, len(cs.Current))
		copy(doc, cs.Current)
		id, err := doc.LookupErr("_id")
		if err != nil {
			return nil, errors.New("watch: a change event without _id")
		}
		tok, ok := id.DocumentOK()
		if !ok {
			return nil, errors.New("watch: a change event whose _id is not a resume token")
		}
		ev := &Event{Doc: doc, Token: sign(key, bind, tok), pos: position(tok)}
		ev.OperationType, _ = doc.Lookup("operationType").StringValueOK()
		if t, i, ok := doc.Lookup("clusterTime").TimestampOK(); ok {
			ev.ClusterTime = bson.Timestamp{T: t, I: i}
		}
		return ev, nil
	}
	if err := cs.Err(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, mongoError(err)
	}
	if cs.ID() == 0 {
		return nil, errors.New("watch: MongoDB closed the change stream")
	}
	tok := cs.ResumeToken()
	if tok == nil {
		return nil, nil
	}
	return &Event{Token: sign(key, bind, tok), pos: position(tok)}, nil
}

// mongoError marks MongoDB's ChangeStreamHistoryLost as ErrHistoryLost.
func mongoError(err error) error {
	var se mongo.ServerError
	if errors.As(err, &se) && se.HasErrorCode(codeHistoryLost) {
		return fmt.Errorf("%w: %w", ErrHistoryLost, err)
	}
	return err
}

// Event is one message of a subscription: a change event, or a heartbeat
// (Doc nil) that carries the stream's position. Events are shared by the
// subscribers of a stream and must not be modified.
type Event struct {
	// Doc is the change event; nil in a heartbeat.
	Doc bson.Raw
	// Token is the mongogate resume token after this message.
	Token string
	// OperationType is the event's operationType; "" in a heartbeat.
	OperationType string
	// ClusterTime is the event's cluster time; zero in a heartbeat.
	ClusterTime bson.Timestamp

	pos string
	enc [3]encoding
}

type encoding struct {
	once sync.Once
	doc  crud.Document
	err  error
}

// Heartbeat reports whether e carries only a position.
func (e *Event) Heartbeat() bool { return e.Doc == nil }

// Invalidate reports whether e is an invalidate event, a stream's last.
func (e *Event) Invalidate() bool { return e.OperationType == "invalidate" }

// Encode is crud.Encode of Doc, done once per format for every
// subscriber of the stream.
func (e *Event) Encode(f crud.Format) (crud.Document, error) {
	if f < 0 || int(f) >= len(e.enc) {
		return crud.Encode(e.Doc, f)
	}
	c := &e.enc[f]
	c.once.Do(func() { c.doc, c.err = crud.Encode(e.Doc, f) })
	return c.doc, c.err
}

// when is the event's wall time, else its cluster time.
func (e *Event) when() time.Time {
	if dt, ok := e.Doc.Lookup("wallTime").DateTimeOK(); ok {
		return time.UnixMilli(dt)
	}
	if e.ClusterTime.T != 0 {
		return time.Unix(int64(e.ClusterTime.T), 0)
	}
	return time.Time{}
}

type nopObserver struct{}

func (nopObserver) StreamsOpen(int)   {}
func (nopObserver) Subscribers(int)   {}
func (nopObserver) Delivered()        {}
func (nopObserver) CutSlow()          {}
func (nopObserver) Lag(time.Duration) {}
