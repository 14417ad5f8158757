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
	"github.com/mongogate/mongogate/internal/drivererr"
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

// States of an outcome record.
const (
	// RecordOpen: written outside the transaction before it starts, for a
	// transaction whose number the client learns only when it ends
	// (RunTransaction's attempts), so that no record means never started;
	// the transaction marks it committed inside itself.
	RecordOpen = "open"
	// RecordCommitted: written (or set) inside the transaction, just before
	// its commit, so it is visible if and only if the transaction
	// committed.
	RecordCommitted = "committed"
	// RecordAborted: written by an instance answering for an owner that
	// does not answer (the fence, see Outcomes): the transaction never
	// commits.
	RecordAborted = "aborted"
)

// Record is an outcome record, a write-once register decided by MongoDB.
//
// A transaction started by StartTransaction, whose number the client
// holds before it can commit, inserts its record committed inside itself
// just before its commit: one insert. An instance that must answer for
// it without its owner, finding no record, inserts it aborted outside any
// transaction, if the session's marker (see MarkerID) says the
// transaction records this way. Whichever insert MongoDB orders first
// wins: once the aborted record is there, the transaction's own insert
// fails (DuplicateKey, or WriteConflict when it came after the
// transaction's snapshot), so it cannot commit; once the transaction has
// inserted its record, the other insert waits for the transaction to end
// (and times out: the answer is then UNKNOWN, ask again).
//
// An attempt of RunTransaction, whose number the client learns only from
// the response, writes its record open before it starts and marks it
// committed inside itself; the fence marks an open record aborted. A
// client that lost the response can then tell a number that never
// started (no record) from one that aborted.
type Record struct {
	ID        string `bson:"_id"`
	Principal string `bson:"p"`
	Number    int64  `bson:"n"`
	// State is RecordOpen, RecordCommitted or RecordAborted; "" (written
	// before records had states) is committed.
	State   string    `bson:"s,omitempty"`
	Written time.Time `bson:"at"`
	// ExpireAt is when MongoDB's TTL monitor removes the record.
	ExpireAt time.Time `bson:"expireAt"`
}

// status is what the record says of its transaction: Committed, Aborted,
// or InProgress while open.
func (r Record) status() Status {
	switch r.State {
	case RecordOpen:
		return InProgress
	case RecordAborted:
		return Aborted
	}
	return Committed
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
	// FenceTimeout bounds the wait of a fence for a transaction that has
	// written its record and not ended yet; default 1s.
	FenceTimeout time.Duration
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
	colls        map[string]*mongo.Collection
	clients      map[string]*mongo.Client
	names        []string // backend names, sorted, for a search over all
	retention    time.Duration
	fenceTimeout time.Duration
	log          *slog.Logger
}

// NewOutcomes checks cfg.
func NewOutcomes(cfg OutcomesConfig) (*Outcomes, error) {
	if cfg.Database == "" || cfg.Collection == "" {
		return nil, errors.New("txn: outcomes: Database and Collection are required")
	}
	if cfg.Retention < 0 || cfg.FenceTimeout < 0 {
		return nil, errors.New("txn: outcomes: negative duration")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultOutcomeRetention
	}
	if cfg.FenceTimeout == 0 {
		cfg.FenceTimeout = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outcomes{colls: map[string]*mongo.Collection{}, clients: map[string]*mongo.Client{},
		retention: cfg.Retention, fenceTimeout: cfg.FenceTimeout, log: log}
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
// backend is "", and returns it with the backend it is on; found is false
// when there is none (the transaction records none, or its record
// expired).
func (o *Outcomes) find(ctx context.Context, backend, id string) (r Record, on string, found bool, err error) {
	on, found, err = o.lookup(ctx, backend, id, &r)
	if err != nil {
		return Record{}, "", false, fmt.Errorf("txn: outcome record: %w", err)
	}
	return r, on, found, nil
}

// lookup decodes the document id of the outcome collection on backend,
// or on the first backend that has it when backend is "", into out, and
// returns the backend it is on; found is false when none has it.
func (o *Outcomes) lookup(ctx context.Context, backend, id string, out any) (on string, found bool, err error) {
	names := o.names
	if backend != "" {
		names = []string{backend}
	}
	for _, name := range names {
		coll := o.colls[name]
		if coll == nil {
			continue
		}
		err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(out)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			continue
		case err != nil:
			return "", false, err
		}
		return name, true, nil
	}
	return "", false, nil
}

// errNumberTaken: the record of a transaction number exists before the
// transaction starts: an earlier start wrote it and then failed (and
// another instance may have fenced it since).
var errNumberTaken = errors.New("txn: outcome record exists")

// open writes the open record of transaction number of sub's session,
// outside any transaction, before it starts.
func (o *Outcomes) open(ctx context.Context, sub *subject, number int64) error {
	coll := o.Collection(sub.backend)
	if coll == nil {
		return fmt.Errorf("txn: no outcome collection for backend %q", sub.backend)
	}
	now := sub.now()
	_, err := coll.InsertOne(ctx, Record{
		ID: OutcomeID(sub.token, number), Principal: sub.principal, Number: number, State: RecordOpen,
		Written: now, ExpireAt: now.Add(o.retention),
	})
	if mongo.IsDuplicateKeyError(err) {
		return errNumberTaken
	}
	if err != nil {
		return fmt.Errorf("txn: writing the outcome record: %w", err)
	}
	return nil
}

// write writes sub's outcome record committed inside its transaction,
// just before the commit: it inserts it, or marks the open record the
// transaction started with (State.opened) committed. A fence that came
// first makes it fail with ErrFenced (wrapping MongoDB's error if there is
// one): the record is there already (DuplicateKey), is no longer open
// (nothing matched), or was written since the transaction's snapshot
// (WriteConflict: nothing but a fence writes it meanwhile).
func (o *Outcomes) write(ctx context.Context, sub *subject) error {
	coll := o.Collection(sub.backend)
	if coll == nil {
		return fmt.Errorf("txn: no outcome collection for backend %q", sub.backend)
	}
	sctx, now := mongo.NewSessionContext(ctx, sub.sess), sub.now()
	var err error
	matched := true
	if sub.st.opened {
		var res *mongo.UpdateResult
		res, err = coll.UpdateOne(sctx,
			bson.D{{Key: "_id", Value: sub.st.outcome}, {Key: "s", Value: RecordOpen}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: RecordCommitted}, {Key: "at", Value: now}, {Key: "expireAt", Value: now.Add(o.retention)}}}})
		matched = err != nil || res.MatchedCount > 0
	} else {
		_, err = coll.InsertOne(sctx, Record{
			ID: sub.st.outcome, Principal: sub.principal, Number: sub.st.number, State: RecordCommitted,
			Written: now, ExpireAt: now.Add(o.retention),
		})
	}
	if mongo.IsDuplicateKeyError(err) || drivererr.HasCode(err, drivererr.CodeWriteConflict) {
		return fmt.Errorf("txn: transaction %d: %w: %w", sub.st.number, ErrFenced, err)
	}
	if err != nil {
		return fmt.Errorf("txn: writing the outcome record: %w", err)
	}
	if !matched {
		return fmt.Errorf("txn: transaction %d: %w", sub.st.number, ErrFenced)
	}
	return nil
}

// fenceAbsent inserts the record id of transaction number, aborted, on
// backend, outside any transaction, for a transaction that records its
// outcome and has no record: it then never commits. The insert waits at
// most FenceTimeout for a transaction that has inserted its record and
// not ended yet: a write outside a transaction that conflicts with one in
// progress waits until the transaction ends ("In-progress Transactions
// and Write Conflicts",
// https://www.mongodb.com/docs/manual/core/transactions-production-consideration/),
// retrying its WriteConflict within maxTimeMS (SERVER-34650, SERVER-40103);
// for an insert the conflict is on the _id index key the transaction
// wrote. It returns the record as it then stands; decided is false when
// the wait timed out (the transaction is still open, or its commit is
// under way).
func (o *Outcomes) fenceAbsent(ctx context.Context, backend, id, principal string, number int64) (r Record, decided bool, err error) {
	coll := o.Collection(backend)
	now := time.Now()
	aborted := Record{ID: id, Principal: principal, Number: number, State: RecordAborted, Written: now, ExpireAt: now.Add(o.retention)}
	code, ok, err := o.fenceWrite(ctx, coll, id, bson.D{
		{Key: "insert", Value: coll.Name()},
		{Key: "documents", Value: bson.A{aborted}},
	})
	switch {
	case err != nil:
		return Record{}, false, err
	case ok && code == 0:
		return aborted, true, nil
	case !ok || code != drivererr.CodeDuplicateKey:
		return Record{}, false, nil
	}
	// The record is there: the transaction committed, or another fence
	// came first.
	r, _, found, err := o.find(ctx, backend, id)
	if err != nil || !found {
		return Record{}, false, err
	}
	return r, true, nil
}

// fenceWrite sends cmd, a write of the record id outside any transaction
// that may wait for one in progress, bounded by FenceTimeout (maxTimeMS).
// ok is false when the command failed (timed out waiting, or could not be
// sent); code is its first write error's, 0 when it applied; err is ctx's
// error once ctx is done.
func (o *Outcomes) fenceWrite(ctx context.Context, coll *mongo.Collection, id string, cmd bson.D) (code int, ok bool, err error) {
	fctx, cancel := context.WithTimeout(ctx, o.fenceTimeout+time.Second)
	defer cancel()
	cmd = append(cmd, bson.E{Key: "maxTimeMS", Value: o.fenceTimeout.Milliseconds()})
	var res struct {
		WriteErrors []struct {
			Code int `bson:"code"`
		} `bson:"writeErrors"`
	}
	err = coll.Database().RunCommand(fctx, cmd).Decode(&res)
	if err == nil && len(res.WriteErrors) == 0 {
		return 0, true, nil
	}
	if ctx.Err() != nil {
		return 0, false, ctx.Err()
	}
	o.log.Debug("txn: fence not applied", "record", id, "err", err, "write_errors", len(res.WriteErrors))
	if err != nil {
		return 0, false, nil
	}
	return res.WriteErrors[0].Code, true, nil
}

// fenceOpen moves the open record id on backend to aborted, outside any
// transaction, waiting at most FenceTimeout for a transaction that has
// updated it to end. It returns the record as it then stands; decided is
// false when the wait timed out (the transaction is still open, or its
// commit is under way).
func (o *Outcomes) fenceOpen(ctx context.Context, backend, id string) (r Record, decided bool, err error) {
	coll := o.Collection(backend)
	code, ok, err := o.fenceWrite(ctx, coll, id, bson.D{
		{Key: "update", Value: coll.Name()},
		{Key: "updates", Value: bson.A{bson.D{
			{Key: "q", Value: bson.D{{Key: "_id", Value: id}, {Key: "s", Value: RecordOpen}}},
			{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "s", Value: RecordAborted}, {Key: "at", Value: time.Now()}}}}},
		}}},
	})
	if err != nil || !ok || code != 0 {
		return Record{}, false, err
	}
	r, _, found, err := o.find(ctx, backend, id)
	if err != nil {
		return Record{}, false, err
	}
	if !found {
		// Expired meanwhile: nothing can tell any more.
		return Record{}, false, nil
	}
	return r, r.State != RecordOpen, nil
}

// Outcome is how a transaction stands, as GetTransactionOutcome answers.
type Outcome struct {
	Status Status
	// FromRecord: the answer rests on the transaction's outcome record
	// rather than on the live owner's state: COMMITTED or ABORTED as the
	// record says, or UNKNOWN while the record cannot be decided yet (the
	// transaction has not ended; ask again). UNKNOWN without it means
	// there is no record to ask.
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
// transaction's outcome record, which it fences when it is still open
// (see Record): the answer then holds whether the owner is gone, paused or
// merely unreachable, so it may be given at once. A transaction without a
// record is UNKNOWN once its owner does not answer. Another principal's
// session is sessions.ErrNotFound; the session of an instance the
// directory (peers, nil: none known) never had, too.
func (o *Outcomes) Get(ctx context.Context, reg *sessions.Registry, peers Peers, token, principal string, number int64) (Outcome, error) {
	if sessions.InstanceOf(token) == reg.InstanceID() {
		return o.local(ctx, reg, token, principal, number)
	}
	return o.gone(ctx, peers, token, principal, number)
}

// local answers for one of this instance's sessions.
func (o *Outcomes) local(ctx context.Context, reg *sessions.Registry, token, p string, number int64) (Outcome, error) {
	e, release, err := reg.Inspect(ctx, token, p)
	if errors.Is(err, sessions.ErrNotFound) || errors.Is(err, sessions.ErrExpired) || errors.Is(err, sessions.ErrOwnerGone) {
		// Ended, expired or revoked: only a record can still tell.
		if out, found, rerr := o.decide(ctx, token, p, number, ""); rerr != nil || found {
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
		if out, found, err := o.decide(ctx, token, p, number, e.Backend); err != nil || found {
			return out, err
		}
		return Outcome{Status: Unknown}, nil
	}
	return Outcome{Status: t.Status}, nil
}

// gone answers for the session of an instance that does not answer:
// gone, dead, paused or unreachable.
func (o *Outcomes) gone(ctx context.Context, peers Peers, token, p string, number int64) (Outcome, error) {
	if out, found, err := o.decide(ctx, token, p, number, ""); err != nil || found {
		return out, err
	}
	owner := sessions.InstanceOf(token)
	if peers == nil || owner == "" {
		return Outcome{}, fmt.Errorf("txn: instance %q: %w", owner, sessions.ErrNotFound)
	}
	_, st, err := peers.Lookup(ctx, owner)
	if err != nil {
		return Outcome{}, fmt.Errorf("txn: looking up instance %s: %w", owner, err)
	}
	if st == directory.Unknown {
		return Outcome{}, fmt.Errorf("txn: no instance %s: %w", owner, sessions.ErrNotFound)
	}
	// No record: the transaction records no outcome (or never started,
	// or its record expired), and nothing here can tell.
	return Outcome{Status: Unknown}, nil
}

// errOtherPrincipal answers for a record or marker of another principal:
// to the caller, the transaction does not exist.
var errOtherPrincipal = fmt.Errorf("txn: transaction of another principal: %w", sessions.ErrNotFound)

// decide answers from the transaction's outcome record on backend, or on
// every backend when backend is "": a committed or aborted record says
// so; an open one is fenced (fenceOpen); a transaction without a record
// that the session's marker says inserts its record is fenced by
// inserting it aborted (fenceAbsent). found is false when nothing can
// tell: no record, and no marker saying the transaction inserts one (it
// records nothing, or it is a RunTransaction attempt that never started).
// A record or marker of another principal is sessions.ErrNotFound. (A
// number asked about before its transaction started, which a client that
// holds it cannot do, is fenced as well: that transaction then fails at
// its commit with ErrFenced.)
func (o *Outcomes) decide(ctx context.Context, token, p string, number int64, backend string) (Outcome, bool, error) {
	if o == nil {
		return Outcome{}, false, nil
	}
	id := OutcomeID(token, number)
	r, on, found, err := o.find(ctx, backend, id)
	if err != nil {
		return Outcome{}, false, err
	}
	if found && r.Principal != p {
		return Outcome{}, false, errOtherPrincipal
	}
	var decided bool
	switch {
	case found && r.State == RecordOpen:
		r, decided, err = o.fenceOpen(ctx, on, id)
	case found:
		decided = true
	default:
		m, mon, mfound, merr := o.findMarker(ctx, backend, token)
		if merr != nil || !mfound {
			return Outcome{}, false, merr
		}
		if m.Principal != p {
			return Outcome{}, false, errOtherPrincipal
		}
		if inserts, known := m.inserts(number); !inserts || !known {
			return Outcome{}, false, nil
		}
		r, decided, err = o.fenceAbsent(ctx, mon, id, p, number)
	}
	if err != nil {
		return Outcome{}, false, err
	}
	if !decided {
		// The transaction records its outcome, so the answer will come:
		// ask again.
		return Outcome{Status: Unknown, FromRecord: true}, true, nil
	}
	if r.Principal != p {
		return Outcome{}, false, errOtherPrincipal
	}
	out := Outcome{Status: r.status(), FromRecord: true}
	if out.Status == Committed {
		out.ExpireAt = r.ExpireAt
	}
	return out, true, nil
}

// KillOrphans kills a dead instance's open transactions: killSessions on
// each backend for the logical sessions its last heartbeat listed, which
// aborts their transactions and releases their locks at once, rather than
// at MongoDB's transaction lifetime limit. MongoDB documents killSessions
// as killing "all operations associated with the specified sessions" and
// aborting their in-progress transactions
// (https://www.mongodb.com/docs/manual/reference/command/killSessions/).
// An empty list would kill every session, so none is sent for a backend
// without listed sessions.
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
