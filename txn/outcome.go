package txn

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/sessions"
)

// DefaultOutcomeRetention is how long outcome records are kept.
const DefaultOutcomeRetention = 24 * time.Hour

// indexTimeout bounds the creation of one backend's TTL index.
const indexTimeout = 30 * time.Second

// OutcomeID is the _id of the outcome record of transaction number of
// the session named by token. Any instance can compute it from what the
// client holds, and it does not reveal the token: it is a SHA-256 of
// both, 132 bits of it in URL-safe base64.
func OutcomeID(token string, number int64) string {
	h := sha256.New()
	h.Write([]byte("mongogate-outcome-v1\x00"))
	h.Write([]byte(token))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(number, 10)))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))[:22]
}

// Record is an outcome record: it exists if and only if its transaction
// committed, because it is written inside the transaction.
type Record struct {
	ID        string    `bson:"_id"`
	Principal string    `bson:"p"`
	Number    int64     `bson:"n"`
	Written   time.Time `bson:"at"`
	// ExpireAt is when MongoDB's TTL monitor removes the record.
	ExpireAt time.Time `bson:"expireAt"`
}

// OutcomesConfig configures Outcomes.
type OutcomesConfig struct {
	// Backends are the deployments, by name, whose transactions may
	// record their outcome; each keeps its records in its own collection.
	Backends map[string]*mongo.Client
	// Database and Collection name the records' collection on every
	// backend; required.
	Database, Collection string
	// Retention is how long records are kept; default
	// DefaultOutcomeRetention.
	Retention time.Duration
	// Logger receives index failures and reclaims; nil discards.
	Logger *slog.Logger
}

// Outcomes owns what survives a transaction's instance: its outcome
// records on every backend (their collections, TTL index, writing and
// reading), the rules that answer GetTransactionOutcome from them and from
// the instance directory, and the killing of a dead instance's orphaned
// transactions, whose absence those rules rely on. Its methods are safe
// for concurrent use.
type Outcomes struct {
	colls     map[string]*mongo.Collection
	clients   map[string]*mongo.Client
	names     []string // backend names, sorted, for a search over all
	retention time.Duration
	log       *slog.Logger
}

// NewOutcomes checks cfg.
func NewOutcomes(cfg OutcomesConfig) (*Outcomes, error) {
	if cfg.Database == "" || cfg.Collection == "" {
		return nil, errors.New("txn: outcomes: Database and Collection are required")
	}
	if cfg.Retention < 0 {
		return nil, fmt.Errorf("txn: outcomes: negative retention %v", cfg.Retention)
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultOutcomeRetention
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outcomes{colls: map[string]*mongo.Collection{}, clients: map[string]*mongo.Client{}, retention: cfg.Retention, log: log}
	for name, c := range cfg.Backends {
		if c == nil {
			return nil, fmt.Errorf("txn: outcomes: backend %q has no client", name)
		}
		o.clients[name] = c
		o.colls[name] = c.Database(cfg.Database).Collection(cfg.Collection)
		o.names = append(o.names, name)
	}
	slices.Sort(o.names)
	return o, nil
}

// Collection is backend's collection of outcome records, nil for a
// backend Outcomes does not have.
func (o *Outcomes) Collection(backend string) *mongo.Collection {
	if o == nil {
		return nil
	}
	return o.colls[backend]
}

// Retention is how long records are kept.
func (o *Outcomes) Retention() time.Duration { return o.retention }

// IndexInBackground creates each backend's TTL index on expireAt in the
// background: records are written and read without it, only their expiry
// needs it, so a backend that cannot be reached at start delays nothing
// (the failure is logged).
func (o *Outcomes) IndexInBackground(ctx context.Context) {
	for _, name := range o.names {
		c := o.colls[name]
		go func() {
			ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), indexTimeout)
			defer cancel()
			if err := EnsureOutcomeIndex(ictx, c); err != nil {
				o.log.Warn("mongogate: outcome records' TTL index not created; records will not expire", "backend", name, "err", err)
			}
		}()
	}
}

// EnsureOutcomeIndex creates the TTL index that expires outcome records
// in coll at their expireAt.
func EnsureOutcomeIndex(ctx context.Context, coll *mongo.Collection) error {
	_, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "expireAt", Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(0).SetName("expireAt_ttl"),
	})
	if err != nil {
		return fmt.Errorf("txn: outcome records' TTL index: %w", err)
	}
	return nil
}

// find reads the outcome record id on backend, or on every backend when
// backend is ""; found is false when there is none (the transaction did
// not commit, or its record expired).
func (o *Outcomes) find(ctx context.Context, backend, id string) (r Record, found bool, err error) {
	names := o.names
	if backend != "" {
		names = []string{backend}
	}
	for _, name := range names {
		coll := o.colls[name]
		if coll == nil {
			continue
		}
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&r)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue
		case err != nil:
			return Record{}, false, fmt.Errorf("txn: outcome record: %w", err)
		}
		return r, true, nil
	}
	return Record{}, false, nil
}

// write inserts sub's outcome record inside its transaction, just before
// the commit.
func (o *Outcomes) write(ctx context.Context, sub *subject) error {
	coll := o.Collection(sub.backend)
	if coll == nil {
		return fmt.Errorf("txn: no outcome collection for backend %q", sub.backend)
	}
	now := sub.now()
	_, err := coll.InsertOne(mongo.NewSessionContext(ctx, sub.sess), Record{
		ID: sub.st.outcome, Principal: sub.principal, Number: sub.st.number,
		Written: now, ExpireAt: now.Add(o.retention),
	})
	if err != nil {
		return fmt.Errorf("txn: writing the outcome record: %w", err)
	}
	return nil
}

// Outcome is how a transaction stands, as GetTransactionOutcome answers.
type Outcome struct {
	Status Status
	// FromRecord: the answer rests on the outcome record (COMMITTED), or
	// on its absence once the transaction can no longer commit (ABORTED),
	// rather than on the live owner's state.
	FromRecord bool
	// ExpireAt is when the record goes, for a COMMITTED from a record.
	ExpireAt time.Time
}

// Peers is what the outcome rules need from the instance directory.
type Peers interface {
	Lookup(ctx context.Context, id string) (directory.Instance, directory.Status, error)
}

// Get tells how transaction number of the session named by token ended,
// for principal: from the session's state when reg holds it (the caller's
// forwarder sends the question to a live owner), otherwise from the
// transaction's outcome record and what peers (nil: none known) say of the
// owner. Another principal's session is sessions.ErrNotFound.
func (o *Outcomes) Get(ctx context.Context, reg *sessions.Registry, peers Peers, token, principal string, number int64) (Outcome, error) {
	if sessions.InstanceOf(token) == reg.InstanceID() {
		return o.local(ctx, reg, token, principal, number)
	}
	return o.gone(ctx, peers, token, principal, number)
}

// local answers for one of this instance's sessions.
func (o *Outcomes) local(ctx context.Context, reg *sessions.Registry, token, p string, number int64) (Outcome, error) {
	e, release, err := reg.Inspect(ctx, token, p)
	if errors.Is(err, sessions.ErrNotFound) || errors.Is(err, sessions.ErrExpired) {
		// Ended or expired: only a record can still tell.
		if out, found, rerr := o.fromRecord(ctx, token, p, number, ""); rerr != nil || found {
			return out, rerr
		}
		return Outcome{}, err
	}
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	t := Describe(e)
	switch {
	case number > t.Number:
		return Outcome{}, fmt.Errorf("txn: transaction %d of a session at %d: %w", number, t.Number, ErrNoTransaction)
	case number < t.Number || t.Status == Unknown:
		// An earlier transaction ended before the current one began, or
		// the last commit's outcome is unknown here: a record settles it.
		if out, found, err := o.fromRecord(ctx, token, p, number, e.Backend); err != nil || found {
			return out, err
		}
		return Outcome{Status: Unknown}, nil
	}
	return Outcome{Status: t.Status}, nil
}

// gone answers for the session of an instance that is gone (or cannot be
// reached).
func (o *Outcomes) gone(ctx context.Context, peers Peers, token, p string, number int64) (Outcome, error) {
	if out, found, err := o.fromRecord(ctx, token, p, number, ""); err != nil || found {
		return out, err
	}
	owner := sessions.InstanceOf(token)
	if peers == nil || owner == "" {
		return Outcome{}, fmt.Errorf("txn: instance %q: %w", owner, sessions.ErrNotFound)
	}
	inst, st, err := peers.Lookup(ctx, owner)
	if err != nil {
		return Outcome{}, fmt.Errorf("txn: looking up instance %s: %w", owner, err)
	}
	switch st {
	case directory.Unknown:
		return Outcome{}, fmt.Errorf("txn: no instance %s: %w", owner, sessions.ErrNotFound)
	case directory.Gone:
		id := OutcomeID(token, number)
		for _, open := range inst.Open {
			if open.Outcome != id {
				continue
			}
			if open.Principal != p {
				return Outcome{}, fmt.Errorf("txn: transaction of another principal: %w", sessions.ErrNotFound)
			}
			// It recorded its outcome, was open when the instance went,
			// and has been killed (or aborted at shutdown): no record, so
			// it did not commit, and now it never will.
			return Outcome{Status: Aborted, FromRecord: true}, nil
		}
	}
	// Dead but not yet reclaimed (its transactions may still commit), live
	// but unreachable, or gone with a transaction that recorded nothing.
	return Outcome{Status: Unknown}, nil
}

// fromRecord looks for the transaction's outcome record on backend, or on
// every backend when backend is "". found is true when it settles the
// answer: COMMITTED for the record's principal; for anyone else the
// session does not exist.
func (o *Outcomes) fromRecord(ctx context.Context, token, p string, number int64, backend string) (Outcome, bool, error) {
	if o == nil {
		return Outcome{}, false, nil
	}
	r, found, err := o.find(ctx, backend, OutcomeID(token, number))
	if err != nil || !found {
		return Outcome{}, false, err
	}
	if r.Principal != p {
		return Outcome{}, false, fmt.Errorf("txn: transaction of another principal: %w", sessions.ErrNotFound)
	}
	return Outcome{Status: Committed, FromRecord: true, ExpireAt: r.ExpireAt}, true, nil
}

// KillOrphans kills a dead instance's open transactions: killSessions on
// each backend for the logical sessions its last heartbeat listed, which
// aborts their transactions and releases their locks at once, rather than
// at MongoDB's transaction lifetime limit. MongoDB documents killSessions
// as killing "all operations associated with the specified sessions" and
// aborting their in-progress transactions
// (https://www.mongodb.com/docs/manual/reference/command/killSessions/).
// An empty list would kill every session, so none is sent for a backend
// without listed sessions. Once it returns nil, the listed transactions
// that recorded no outcome never will: Get answers ABORTED for them.
func (o *Outcomes) KillOrphans(ctx context.Context, dead directory.Instance) error {
	byBackend := map[string]bson.A{}
	for _, t := range dead.Open {
		byBackend[t.Backend] = append(byBackend[t.Backend], bson.D{{Key: "id", Value: t.LSID}})
	}
	var errs []error
	for name, lsids := range byBackend {
		c := o.clients[name]
		if c == nil {
			errs = append(errs, fmt.Errorf("instance %s had transactions on backend %q, which this instance does not have", dead.ID, name))
			continue
		}
		if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions", Value: lsids}}).Err(); err != nil {
			errs = append(errs, fmt.Errorf("killSessions on backend %q: %w", name, err))
		}
	}
	o.log.Info("mongogate: killed a dead instance's open transactions", "instance", dead.ID, "transactions", len(dead.Open), "failed", len(errs))
	return errors.Join(errs...)
}

// recording reports whether sub's transaction, started with the effective
// options eff, writes an outcome record: asked for (or the backend's
// default), on a session with a token (which a client can ask about),
// with a collection to write to.
func (m *Manager) recording(sub *subject, eff Options) bool {
	if sub.token == "" || m.cfg.Outcomes.Collection(sub.backend) == nil {
		return false
	}
	if eff.RecordOutcome != nil {
		return *eff.RecordOutcome
	}
	return m.cfg.RecordByDefault != nil && m.cfg.RecordByDefault(sub.backend)
}

// Open is a transaction this instance has open (or whose commit outcome
// it does not know): what a dead instance's survivors must kill.
type Open struct {
	Backend   string
	LSID      bson.Binary // the driver session's logical session id
	Outcome   string      // its outcome record's id, when it records one
	Principal string
}

// track records sub's transaction as open. It runs when the transaction
// begins, on the holder's goroutine; the value is immutable, so
// OpenTransactions may read it from any goroutine.
func (m *Manager) track(sub *subject) {
	_, id, ok := sub.sess.ID().Lookup("id").BinaryOK()
	if !ok {
		return
	}
	m.open.Store(sub.st, Open{
		Backend: sub.backend, Principal: sub.principal, Outcome: sub.st.outcome,
		LSID: bson.Binary{Subtype: bson.TypeBinaryUUID, Data: append([]byte(nil), id...)},
	})
}

func (m *Manager) untrack(sub *subject) { m.open.Delete(sub.st) }

// OpenTransactions lists the transactions open now, for the instance
// directory's heartbeat.
func (m *Manager) OpenTransactions() []Open {
	var out []Open
	m.open.Range(func(_, v any) bool {
		out = append(out, v.(Open))
		return true
	})
	return out
}
