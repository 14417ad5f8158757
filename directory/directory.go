// Package directory is the instance directory of a mongogate deployment:
// several instances behind one load balancer share no memory, so each
// registers itself in a collection of the default backend (MongoDB is the
// only shared state) and heartbeats there. From it an instance learns
// where another instance's sessions live (for forwarding), whether that
// instance is alive, and, when one dies, which of its transactions were
// left open so that exactly one survivor kills them.
//
// An entry is {_id: instance id, addr, started, heartbeat, seq, state,
// open}. heartbeat is set with $currentDate and its age is read with
// $$NOW, both MongoDB's clock, so instances need not agree on the time.
// An entry whose heartbeat is older than Config.StaleAfter belongs to a
// dead instance. A survivor claims it atomically (findAndModify), has its
// open transactions killed (Config.Reclaim), and turns it into a
// tombstone (state "gone") that a TTL index removes after
// Config.TombstoneTTL; a graceful shutdown leaves the same tombstone. The
// tombstone keeps the open list of the instance's last heartbeat, so
// that, for as long as outcome records are kept, any instance can tell a
// gone instance's transactions from unknown ones.
package directory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Defaults for Config's zero fields.
const (
	DefaultInterval     = 2 * time.Second
	DefaultTombstoneTTL = 24 * time.Hour
	// staleIntervals is how many heartbeat intervals an entry may miss
	// before it is dead: enough that a slow write or a GC pause does not
	// get a live instance's transactions killed.
	staleIntervals = 3
	// opTimeout bounds each directory read and write.
	opTimeout = 5 * time.Second
)

// Entry states.
const (
	stateLive = "live"
	stateGone = "gone"
)

// Config configures a Directory.
type Config struct {
	// Collection holds the entries; required.
	Collection *mongo.Collection
	// InstanceID is this instance's id, the prefix of its session tokens;
	// required.
	InstanceID string
	// Address is what peers dial to reach this instance (host:port); empty
	// means peers cannot forward to it.
	Address string
	// Interval is how often the instance heartbeats; default 2s. The
	// directory is read every half interval.
	Interval time.Duration
	// StaleAfter is the heartbeat age past which an instance is dead;
	// default 3 intervals.
	StaleAfter time.Duration
	// TombstoneTTL is how long the entry of a gone instance is kept;
	// default 24h. Keep it at least as long as outcome records.
	TombstoneTTL time.Duration
	// Open, if set, lists the transactions this instance has open; each
	// heartbeat carries the list.
	Open func() []OpenTxn
	// Fenced, if set, is called when this instance finds that its peers
	// declared it dead (its entry was claimed or tombstoned while its
	// heartbeats did not arrive): its open transactions may have been
	// killed and its peers answer that its sessions are gone, so it must
	// stop serving every session it holds before it returns. It returns
	// the new id to register under; the old one stays a tombstone. Nil
	// registers again under the same id.
	Fenced func(ctx context.Context, old string) (id string)
	// Reclaim, if set, kills a dead instance's open transactions. The
	// directory calls it on exactly one survivor (the one whose claim on
	// the entry succeeded); the entry becomes a tombstone only once it
	// returns nil, and another survivor may claim it again after
	// StaleAfter if it fails or the claimer dies.
	Reclaim func(ctx context.Context, dead Instance) error
	// Logger receives deaths, reclaims and directory failures; nil
	// discards.
	Logger *slog.Logger
}

// OpenTxn is an open transaction as a heartbeat lists it.
type OpenTxn struct {
	// Backend names the deployment the transaction runs on.
	Backend string `bson:"b"`
	// LSID is the MongoDB logical session id's UUID.
	LSID bson.Binary `bson:"lsid"`
	// Outcome is the id of the transaction's outcome record, when it
	// records one.
	Outcome string `bson:"o,omitempty"`
	// Principal owns the session.
	Principal string `bson:"p,omitempty"`
}

// Instance is one directory entry as read.
type Instance struct {
	ID      string    `bson:"_id"`
	Addr    string    `bson:"addr"`
	Started time.Time `bson:"started"`
	State   string    `bson:"state"`
	Open    []OpenTxn `bson:"open"`
	// AgeMS is the heartbeat's age when the entry was read, in
	// milliseconds of MongoDB's clock.
	AgeMS int64 `bson:"age"`
}

// Status is what the directory knows of an instance.
type Status int

const (
	// Unknown: no entry (never registered, or its tombstone expired).
	Unknown Status = iota
	// Live: heartbeating.
	Live
	// Dead: its heartbeat stopped; its open transactions may not be
	// killed yet.
	Dead
	// Gone: shut down, or dead and its open transactions killed.
	Gone
)

func (s Status) String() string {
	switch s {
	case Live:
		return "live"
	case Dead:
		return "dead"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Directory is this instance's view of the instance directory, and its
// registration in it. Its methods are safe for concurrent use.
type Directory struct {
	cfg  Config
	coll *mongo.Collection
	log  *slog.Logger

	mu         sync.Mutex
	entries    map[string]cached
	registered bool
	// id is the instance id registered under: Config.InstanceID, until
	// Fenced gives another.
	id string
	// confirmed is when the last heartbeat (or registration) that found
	// the entry ours was sent, on the local monotonic clock; zero before
	// the first. lease is how long it confirms the instance alive.
	confirmed time.Time
	lease     time.Duration
	fenced    bool

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

type cached struct {
	inst Instance
	at   time.Time // when it was read, on the local monotonic clock
}

// status of a cached entry now: its age grows by the local time elapsed
// since it was read.
func (d *Directory) status(c cached) Status {
	if c.inst.State == stateGone {
		return Gone
	}
	age := time.Duration(c.inst.AgeMS)*time.Millisecond + time.Since(c.at)
	if age >= d.cfg.StaleAfter {
		return Dead
	}
	return Live
}

// ID is the id the instance is registered under: Config.InstanceID, or
// the one Config.Fenced gave it.
func (d *Directory) ID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.id
}

// Lease reports whether this instance may act as the owner of its
// sessions now: nil while a heartbeat that found its entry live was sent
// less than StaleAfter − Interval/2 ago (no peer can have claimed it
// yet), or before its first registration (no peer knows of its sessions);
// ErrUnconfirmed otherwise, until a heartbeat succeeds again or, if its
// peers declared it dead meanwhile, until Config.Fenced has revoked its
// sessions and it has registered under its new id. Callers check it
// before anything a peer's "gone" answer must be able to rule out, such
// as sending a commit.
func (d *Directory) Lease() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.fenced:
		return fmt.Errorf("%w: declared dead by its peers, registering again", ErrUnconfirmed)
	case d.confirmed.IsZero():
		return nil
	case time.Since(d.confirmed) >= d.lease:
		return fmt.Errorf("%w: last confirmed %v ago", ErrUnconfirmed, time.Since(d.confirmed).Round(time.Millisecond))
	}
	return nil
}

// confirm records that a write sent at sent found the entry ours.
func (d *Directory) confirm(sent time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sent.After(d.confirmed) {
		d.confirmed = sent
	}
}

// New checks cfg; Start registers the instance.
func New(cfg Config) (*Directory, error) {
	if cfg.Collection == nil || cfg.InstanceID == "" {
		return nil, errors.New("directory: Collection and InstanceID are required")
	}
	if cfg.Interval < 0 || cfg.StaleAfter < 0 || cfg.TombstoneTTL < 0 {
		return nil, errors.New("directory: negative duration")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = staleIntervals * cfg.Interval
	}
	if cfg.StaleAfter <= cfg.Interval {
		return nil, fmt.Errorf("directory: StaleAfter %v must exceed the heartbeat interval %v", cfg.StaleAfter, cfg.Interval)
	}
	if cfg.TombstoneTTL == 0 {
		cfg.TombstoneTTL = DefaultTombstoneTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Directory{
		cfg: cfg, coll: cfg.Collection, log: log, id: cfg.InstanceID,
		// Peers reclaim an entry whose heartbeat is StaleAfter old by
		// MongoDB's clock, stamped when the write was applied, which is
		// after it was sent: a lease shorter than StaleAfter, counted from
		// the send, ends before any peer can claim the entry. Half an
		// interval covers clock rate differences.
		lease:   cfg.StaleAfter - cfg.Interval/2,
		entries: map[string]cached{},
		stop:    make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// ErrUnconfirmed: this instance cannot tell that it is still alive in
// its peers' eyes (see Directory.Lease).
var ErrUnconfirmed = errors.New("directory: this instance's registration is not confirmed by a recent heartbeat")

// ErrInstanceIDInUse: another live instance heartbeats under this id.
var ErrInstanceIDInUse = errors.New("directory: instance id in use by a live instance")

// Start registers the instance (taking over a dead entry of the same id,
// after reclaiming its open transactions), makes sure the tombstones'
// TTL index exists, and heartbeats until Close. If MongoDB cannot be
// reached, Start returns nil and the heartbeat registers once it can; it
// fails only when a live instance already uses the id.
func (d *Directory) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := d.register(ctx)
	if errors.Is(err, ErrInstanceIDInUse) {
		return err
	}
	if err != nil {
		d.log.Warn("directory: registration failed; retrying with each heartbeat", "err", err)
	} else {
		d.refresh(ctx)
	}
	go d.run()
	return nil
}

// register creates the TTL index and this instance's entry.
func (d *Directory) register(ctx context.Context) error {
	_, err := d.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expireAt", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0).SetName("expireAt_ttl"),
	})
	if err != nil {
		return fmt.Errorf("directory: TTL index: %w", err)
	}
	id := d.ID()
	prev, found, err := d.fetch(ctx, id)
	if err != nil {
		return err
	}
	if found && prev.State == stateLive {
		if d.status(cached{inst: prev, at: time.Now()}) == Live {
			return fmt.Errorf("%w: %s", ErrInstanceIDInUse, id)
		}
		// Our own earlier life died: its transactions are ours to kill,
		// unless a survivor is at it.
		if err := d.claimAndReclaim(ctx, prev.ID); err != nil {
			return fmt.Errorf("directory: reclaiming this id's earlier life: %w", err)
		}
	}
	sent := time.Now()
	_, err = d.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "addr", Value: d.cfg.Address},
			{Key: "started", Value: time.Now()},
			{Key: "state", Value: stateLive},
			{Key: "open", Value: d.open()},
			{Key: "seq", Value: int64(0)},
		}},
		{Key: "$unset", Value: bson.D{{Key: "claim", Value: ""}, {Key: "expireAt", Value: ""}, {Key: "goneAt", Value: ""}}},
		{Key: "$currentDate", Value: bson.D{{Key: "heartbeat", Value: true}}},
	}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("directory: register: %w", err)
	}
	d.mu.Lock()
	d.registered, d.fenced = true, false
	d.mu.Unlock()
	d.confirm(sent)
	return nil
}

// Close stops heartbeating and leaves a tombstone: the instance's
// sessions have ended (the caller closed them first), so its entry says
// gone at once rather than after StaleAfter.
func (d *Directory) Close(ctx context.Context) error {
	return d.Leave(ctx, d.open())
}

// Stop stops heartbeating and leaves the entry as it is, as a crash
// would: peers find the instance dead after StaleAfter and reclaim it.
func (d *Directory) Stop() {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
}

// Leave is Close with the tombstone listing open: the transactions this
// instance had open before it aborted them, so that their outcome stays
// known (aborted, or committed when a record says so).
func (d *Directory) Leave(ctx context.Context, open []OpenTxn) error {
	stopping := false
	d.stopOnce.Do(func() { stopping = true; close(d.stop) })
	if !stopping {
		return nil
	}
	<-d.done
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if open == nil {
		open = []OpenTxn{}
	}
	_, err := d.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID()}}, d.tombstone(open))
	if err != nil {
		return fmt.Errorf("directory: leaving: %w", err)
	}
	return nil
}

// tombstone is the update that turns an entry into a tombstone holding
// open, the transactions it had open when it went.
func (d *Directory) tombstone(open []OpenTxn) bson.D {
	return bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "state", Value: stateGone},
			{Key: "open", Value: open},
			{Key: "expireAt", Value: time.Now().Add(d.cfg.TombstoneTTL)},
		}},
		{Key: "$currentDate", Value: bson.D{{Key: "goneAt", Value: true}}},
		{Key: "$unset", Value: bson.D{{Key: "claim", Value: ""}}},
	}
}

func (d *Directory) open() []OpenTxn {
	if d.cfg.Open == nil {
		return []OpenTxn{}
	}
	if o := d.cfg.Open(); o != nil {
		return o
	}
	return []OpenTxn{}
}

// run heartbeats every interval and reads the directory, reclaiming dead
// instances, every half interval.
func (d *Directory) run() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.Interval / 2)
	defer t.Stop()
	for tick := 1; ; tick++ {
		select {
		case <-d.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if tick%2 == 0 {
			d.heartbeat(ctx)
		}
		d.refresh(ctx)
		d.reclaimDead(ctx)
		cancel()
	}
}

func (d *Directory) heartbeat(ctx context.Context) {
	d.mu.Lock()
	registered := d.registered
	d.mu.Unlock()
	if !registered {
		if err := d.register(ctx); err != nil {
			d.log.Warn("directory: registration failed", "err", err)
		}
		return
	}
	// A claimed entry is no longer ours: the claimer is killing our open
	// transactions, and its tombstone will say our sessions are gone.
	sent := time.Now()
	res, err := d.coll.UpdateOne(ctx, bson.D{
		{Key: "_id", Value: d.ID()}, {Key: "state", Value: stateLive}, {Key: "claim", Value: bson.D{{Key: "$exists", Value: false}}},
	}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "addr", Value: d.cfg.Address}, {Key: "open", Value: d.open()}}},
		{Key: "$inc", Value: bson.D{{Key: "seq", Value: int64(1)}}},
		{Key: "$currentDate", Value: bson.D{{Key: "heartbeat", Value: true}}},
	})
	if err != nil {
		d.log.Warn("directory: heartbeat failed", "err", err)
		return
	}
	if res.MatchedCount == 0 {
		d.fence(ctx)
		return
	}
	d.confirm(sent)
}

// fence handles this instance's discovery that its peers declared it
// dead (its heartbeats failed for StaleAfter, or it was paused): a
// survivor killed its listed transactions, and peers answer that its
// sessions are gone. Config.Fenced stops serving them; the instance then
// registers under the new id it gives, so that it can serve new
// sessions.
func (d *Directory) fence(ctx context.Context) {
	d.mu.Lock()
	d.registered, d.fenced = false, true
	old := d.id
	d.mu.Unlock()
	id := old
	if d.cfg.Fenced != nil {
		d.log.Error("directory: this instance was declared dead by its peers; it stops serving its sessions and registers under a new id", "instance", old)
		id = d.cfg.Fenced(context.WithoutCancel(ctx), old)
	} else {
		d.log.Error("directory: this instance was declared dead by its peers; its open transactions were killed. Registering again.", "instance", old)
	}
	d.mu.Lock()
	already := d.registered && d.id == id
	d.id = id
	d.mu.Unlock()
	if already {
		return // Fenced registered the new id itself (RegisterAs)
	}
	if err := d.register(ctx); err != nil {
		d.log.Warn("directory: registering again failed; retrying with each heartbeat", "instance", id, "err", err)
	}
}

// RegisterAs registers this instance under id now. A Fenced callback
// calls it before the instance hands out tokens carrying id, so that no
// peer ever meets such a token while the directory does not know id yet
// (and answers that its session does not exist).
func (d *Directory) RegisterAs(ctx context.Context, id string) error {
	d.mu.Lock()
	d.id = id
	d.mu.Unlock()
	return d.register(ctx)
}

// withAge is the pipeline stage that adds each entry's heartbeat age by
// MongoDB's clock.
var withAge = bson.D{{Key: "$addFields", Value: bson.D{
	{Key: "age", Value: bson.D{{Key: "$subtract", Value: bson.A{"$$NOW", "$heartbeat"}}}},
}}}

// refresh reads every entry.
func (d *Directory) refresh(ctx context.Context) {
	cur, err := d.coll.Aggregate(ctx, mongo.Pipeline{withAge})
	if err != nil {
		d.log.Warn("directory: read failed", "err", err)
		return
	}
	var all []Instance
	if err := cur.All(ctx, &all); err != nil {
		d.log.Warn("directory: read failed", "err", err)
		return
	}
	now := time.Now()
	entries := make(map[string]cached, len(all))
	for _, inst := range all {
		entries[inst.ID] = cached{inst: inst, at: now}
	}
	d.mu.Lock()
	d.entries = entries
	d.mu.Unlock()
}

// fetch reads one entry.
func (d *Directory) fetch(ctx context.Context, id string) (Instance, bool, error) {
	cur, err := d.coll.Aggregate(ctx, mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "_id", Value: id}}}}, withAge})
	if err != nil {
		return Instance{}, false, fmt.Errorf("directory: read %s: %w", id, err)
	}
	var got []Instance
	if err := cur.All(ctx, &got); err != nil {
		return Instance{}, false, fmt.Errorf("directory: read %s: %w", id, err)
	}
	if len(got) == 0 {
		return Instance{}, false, nil
	}
	return got[0], true, nil
}

// Lookup reports what the directory knows of instance id. An id not in
// the last read is read at once, so an instance that registered since is
// found.
func (d *Directory) Lookup(ctx context.Context, id string) (Instance, Status, error) {
	d.mu.Lock()
	c, ok := d.entries[id]
	d.mu.Unlock()
	if !ok {
		inst, found, err := d.fetch(ctx, id)
		if err != nil {
			return Instance{}, Unknown, err
		}
		if !found {
			return Instance{}, Unknown, nil
		}
		c = cached{inst: inst, at: time.Now()}
		d.mu.Lock()
		d.entries[id] = c
		d.mu.Unlock()
	}
	return c.inst, d.status(c), nil
}

// Counts reports how many instances the last read found in each status,
// this one included.
func (d *Directory) Counts() map[Status]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[Status]int{Live: 0, Dead: 0, Gone: 0}
	for _, c := range d.entries {
		n[d.status(c)]++
	}
	return n
}

// reclaimDead claims and reclaims every dead instance of the last read.
func (d *Directory) reclaimDead(ctx context.Context) {
	d.mu.Lock()
	var dead []Instance
	for id, c := range d.entries {
		if id != d.id && d.status(c) == Dead {
			dead = append(dead, c.inst)
		}
	}
	d.mu.Unlock()
	for _, inst := range dead {
		if err := d.claimAndReclaim(ctx, inst.ID); err != nil {
			d.log.Warn("directory: reclaiming a dead instance failed; a survivor retries", "instance", inst.ID, "err", err)
		}
	}
}

// claimAndReclaim claims the entry of id if it is still dead and
// unclaimed (or its claim is as old as StaleAfter: the claimer died too),
// then reclaims it. Only one survivor's findAndModify matches.
func (d *Directory) claimAndReclaim(ctx context.Context, id string) error {
	staleMS := d.cfg.StaleAfter.Milliseconds()
	older := func(field string) bson.D {
		return bson.D{{Key: "$gt", Value: bson.A{bson.D{{Key: "$subtract", Value: bson.A{"$$NOW", field}}}, staleMS}}}
	}
	filter := bson.D{
		{Key: "_id", Value: id},
		{Key: "state", Value: stateLive},
		{Key: "$expr", Value: older("$heartbeat")},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "claim", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$expr", Value: older("$claim.at")}},
		}},
	}
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: "claim.by", Value: d.ID()}}},
		{Key: "$currentDate", Value: bson.D{{Key: "claim.at", Value: true}}},
	}
	var inst Instance
	err := d.coll.FindOneAndUpdate(ctx, filter, update).Decode(&inst)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil // another survivor has it, or it came back
	}
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	return d.reclaim(ctx, inst)
}

// reclaim kills inst's open transactions and tombstones its entry.
func (d *Directory) reclaim(ctx context.Context, inst Instance) error {
	d.log.Warn("directory: instance is dead; killing its open transactions",
		"instance", inst.ID, "addr", inst.Addr, "open_transactions", len(inst.Open))
	if d.cfg.Reclaim != nil {
		if err := d.cfg.Reclaim(ctx, inst); err != nil {
			return fmt.Errorf("reclaim: %w", err)
		}
	}
	// Only while our claim holds: the instance may have come back (and
	// dropped the claim) meanwhile.
	filter := bson.D{{Key: "_id", Value: inst.ID}, {Key: "state", Value: stateLive}, {Key: "claim.by", Value: d.ID()}}
	if _, err := d.coll.UpdateOne(ctx, filter, d.tombstone(inst.Open)); err != nil {
		return fmt.Errorf("tombstone: %w", err)
	}
	d.mu.Lock()
	if c, ok := d.entries[inst.ID]; ok {
		c.inst.State = stateGone
		d.entries[inst.ID] = c
	}
	d.mu.Unlock()
	return nil
}
