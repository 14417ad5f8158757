package emulator

import (
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// txnState is where a session's current transaction number stands, following
// MongoDB's transaction participant.
type txnState int

const (
	txnNone       txnState = iota // number used by a retryable write, or nothing yet
	txnInProgress                 // transaction open
	txnCommitted
	txnAborted
)

// transaction is one multi-document transaction's uncommitted state.
type transaction struct {
	number   int64
	snapshot uint64 // read timestamp, fixed by the first statement
	started  time.Time
	pending  map[*record]pendingWrite
	order    []pendingRef  // pending writes in the order they were made
	locked   []*record     // document locks held
	created  []*collection // collections created by the transaction
}

type pendingWrite struct{ doc bson.D }

type pendingRef struct {
	coll *collection
	rec  *record
}

// session is the server side of a logical session (lsid). Its fields are
// guarded by store.mu held exclusively; the sessions table only guards the map.
type session struct {
	id        string
	lsid      bson.Binary
	txnNumber int64 // highest number seen
	state     txnState
	txn       *transaction
	// What retryable writes executed, by txnNumber, so a retried write
	// returns the first attempt's results instead of running twice.
	retried map[int64]*retryRecord
	lastUse time.Time
}

type sessionTable struct {
	mu sync.Mutex
	m  map[string]*session
	// ending are the sessions endSessions named, until the next refresh.
	ending map[string]bool
}

func (t *sessionTable) get(id string, lsid bson.Binary) *session {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[id]
	if s == nil {
		s = &session{id: id, lsid: lsid, retried: map[int64]*retryRecord{}}
		t.m[id] = s
	}
	s.lastUse = time.Now()
	return s
}

func (t *sessionTable) markEnding(ids map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id := range ids {
		t.ending[id] = true
	}
}

func (t *sessionTable) takeEnding() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.ending
	t.ending = map[string]bool{}
	return e
}

// forgetUnlessOpen drops a session's state unless it has a transaction in
// progress, and reports whether it did. Callers hold store.mu exclusively.
func (t *sessionTable) forgetUnlessOpen(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[id]; s != nil && s.state == txnInProgress {
		return false
	}
	delete(t.m, id)
	return true
}

func (t *sessionTable) all() []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*session, 0, len(t.m))
	for _, s := range t.m {
		out = append(out, s)
	}
	return out
}

// maxRetryCache bounds how many retryable-write replies a session keeps; the
// driver only ever retries its latest write.
const maxRetryCache = 8

// retryRecord is what one retryable write (one txnNumber) executed. Like
// MongoDB, results are kept per statement (stmtId = position in the
// batch): a retry after a partial batch re-runs only what did not run.
type retryRecord struct {
	stmts map[int]bson.D // statement results, by position
	reply bson.D         // whole reply, for single-statement findAndModify
}

func (r *retryRecord) done(i int) (bson.D, bool) {
	if r == nil {
		return nil, false
	}
	d, ok := r.stmts[i]
	return d, ok
}

func (r *retryRecord) record(i int, result bson.D) {
	if r != nil {
		r.stmts[i] = result
	}
}

func (s *session) retryRecord(n int64) *retryRecord {
	if r := s.retried[n]; r != nil {
		return r
	}
	if len(s.retried) >= maxRetryCache {
		for k := range s.retried {
			if k < n {
				delete(s.retried, k)
			}
		}
	}
	r := &retryRecord{stmts: map[int]bson.D{}}
	s.retried[n] = r
	return r
}

// begin applies MongoDB's rules for a statement carrying txnNumber and
// autocommit:false, and returns the transaction it runs in.
func (st *store) begin(s *session, n int64, start bool, cmd string) (*transaction, error) {
	switch {
	case n < s.txnNumber:
		return nil, mongoerr.New(mongoerr.TransactionTooOld,
			"Cannot start transaction %d on session %s because a newer transaction %d has already started.", n, s.id, s.txnNumber)
	case n > s.txnNumber:
		if !start {
			return nil, mongoerr.New(mongoerr.NoSuchTransaction,
				"Given transaction number %d does not match any in-progress transactions. The active transaction number is %d", n, s.txnNumber)
		}
		st.abortOpen(s)
		s.txnNumber = n
		s.state = txnInProgress
		s.txn = &transaction{number: n, started: time.Now(), pending: map[*record]pendingWrite{}}
		st.open[s.txn] = struct{}{}
		return s.txn, nil
	}
	if start {
		return nil, mongoerr.New(mongoerr.ConflictingOperationInProgress,
			"Transaction with txnNumber %d on session %s is already in progress.", n, s.id)
	}
	switch s.state {
	case txnInProgress:
		return s.txn, nil
	case txnAborted:
		return nil, mongoerr.New(mongoerr.NoSuchTransaction, "Transaction with txnNumber %d has been aborted.", n)
	case txnCommitted:
		if cmd == "commitTransaction" {
			return nil, nil
		}
		return nil, mongoerr.New(mongoerr.TransactionCommitted, "Transaction with txnNumber %d has been committed.", n)
	}
	return nil, mongoerr.New(mongoerr.NoSuchTransaction,
		"Given transaction number %d does not match any in-progress transactions. The active transaction number is %d", n, s.txnNumber)
}

// beginRetryableWrite applies the rules for a write carrying txnNumber
// without autocommit and returns the record of what the number executed.
func (st *store) beginRetryableWrite(s *session, n int64) (*retryRecord, error) {
	switch {
	case n < s.txnNumber:
		return nil, mongoerr.New(mongoerr.TransactionTooOld,
			"Cannot start transaction %d on session %s because a newer transaction %d has already started.", n, s.id, s.txnNumber)
	case n > s.txnNumber:
		st.abortOpen(s)
		s.txnNumber = n
		s.state = txnNone
		return s.retryRecord(n), nil
	}
	if s.state != txnNone {
		return nil, mongoerr.New(mongoerr.IncompleteTransactionHistory,
			"Cannot run a retryable write with transaction number %d on session %s: a transaction with that number exists.", n, s.id)
	}
	return s.retryRecord(n), nil
}

// commit makes the transaction's writes visible atomically at one new
// cluster time and releases its locks.
func (st *store) commit(s *session) uint64 {
	t := s.txn
	ts := st.tick()
	st.changes.commitTxn(s, t, ts)
	h := st.horizon()
	for _, p := range t.order {
		if p.rec.gone {
			continue
		}
		p.coll.appendVersion(p.rec, ts, t.pending[p.rec].doc, h)
	}
	for _, c := range t.created {
		c.pending = nil
	}
	st.release(t)
	s.state = txnCommitted
	s.txn = nil
	return ts
}

// abortOpen discards the session's open transaction, if any.
func (st *store) abortOpen(s *session) bool {
	if s.state != txnInProgress || s.txn == nil {
		return false
	}
	t := s.txn
	for _, p := range t.order {
		if len(p.rec.versions) == 0 && !p.rec.gone {
			p.coll.removeRecord(p.rec)
		}
	}
	for _, c := range t.created {
		if c.pending == t {
			st.dropCollection(c.db, c.name)
		}
	}
	st.release(t)
	s.state = txnAborted
	s.txn = nil
	return true
}

func (st *store) release(t *transaction) {
	st.changes.forget(t)
	for _, r := range t.locked {
		if r.owner == t {
			r.owner = nil
		}
	}
	delete(st.open, t)
	st.cond.Broadcast()
}

// reapExpired aborts transactions open longer than limit, like MongoDB's
// transactionLifetimeLimitSeconds reaper. Callers hold mu exclusively.
func (st *store) reapExpired(sessions []*session, limit time.Duration, now time.Time) int {
	n := 0
	for _, s := range sessions {
		if s.state == txnInProgress && s.txn != nil && now.Sub(s.txn.started) > limit {
			st.abortOpen(s)
			n++
		}
	}
	return n
}

func lsidKey(lsid bson.D) (string, error) {
	id, err := lsidUUID(lsid)
	return fmt.Sprintf("%x", id.Data), err
}

func lsidUUID(lsid bson.D) (bson.Binary, error) {
	for _, e := range lsid {
		if e.Key == "id" {
			if b, ok := e.Value.(bson.Binary); ok {
				return b, nil
			}
		}
	}
	return bson.Binary{}, mongoerr.New(mongoerr.FailedToParse, "lsid must contain a UUID field 'id'")
}
