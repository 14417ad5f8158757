package emulator

import (
	"context"
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Ending and killing logical sessions.
//
// killSessions, killAllSessions and killAllSessionsByPattern act at once
// (https://www.mongodb.com/docs/manual/reference/command/killSessions/,
// .../killAllSessions/, .../killAllSessionsByPattern/): "Killing a session
// kills any in-progress operations in the session and closes any open
// cursors associated with these operations." The server's killSessionsLocal
// (mongodb/mongo src/mongo/db/kill_sessions_local.cpp) also aborts the
// sessions' unprepared transactions, and interrupts their operations with
// ErrorCodes::Interrupted (kill_sessions_common.cpp killSessionsLocalKillOps,
// ServiceContext::killOperation's default code). The session itself stays:
// "The killed session may still be listed as a current session, and future
// operations may use the killed session", so its transaction number stays
// and a later statement of the killed transaction gets NoSuchTransaction.
//
// endSessions only marks the sessions as ending
// (https://www.mongodb.com/docs/manual/reference/command/endSessions/; the
// server's LogicalSessionCacheImpl::endSessions adds them to a set). The
// next logical session cache refresh, every logicalSessionRefreshMillis
// (default 5 minutes), removes their records and closes their cursors
// (logical_session_cache_impl.cpp _refresh). It neither interrupts
// operations nor aborts transactions: an open transaction lives on until it
// commits, aborts or reaches transactionLifetimeLimitSeconds.

// errInterrupted is what an operation of a killed session fails with.
func errInterrupted() error {
	return mongoerr.New(mongoerr.Interrupted, "operation was interrupted")
}

// op is a command in progress for a logical session. Killing the session
// cancels the op's context with errInterrupted as the cause, which wakes it
// wherever it blocks.
type op struct {
	lsid   string
	cancel context.CancelCauseFunc
	info   opInfo // for currentOp
}

type opTable struct {
	mu    sync.Mutex
	m     map[*op]struct{}
	stats opStats
}

func (t *opTable) remove(o *op) {
	t.mu.Lock()
	delete(t.m, o)
	t.mu.Unlock()
}

func (t *opTable) kill(match func(lsid string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for o := range t.m {
		if o.lsid != "" && match(o.lsid) {
			o.cancel(errInterrupted())
		}
	}
}

// attachesSession reports whether a command runs as an operation of the
// session in its lsid. The kill commands do not, "in order to prevent it
// from killing itself" (kill_sessions_command.cpp,
// attachLogicalSessionsToOpCtx); endSessions carries no lsid.
func attachesSession(name string) bool {
	switch name {
	case "killSessions", "killAllSessions", "killAllSessionsByPattern", "endSessions":
		return false
	}
	return true
}

// killMatching kills the sessions match selects: their open transactions
// abort (releasing document locks at once), their operations are
// interrupted, their cursors close. Callers hold the store lock
// exclusively.
func (s *Server) killMatching(match func(lsid string) bool) {
	for _, sess := range s.sessions.all() {
		if match(sess.id) {
			s.store.abortOpen(sess)
		}
	}
	s.ops.kill(match)
	s.cursors.killMatching(match)
}

func matchAll(string) bool { return true }

func matchNone(string) bool { return false }

func matchSet(ids map[string]bool) func(string) bool {
	return func(id string) bool { return ids[id] }
}

// lsidList parses the array of {id: UUID} a session command takes, as the
// server's IDL parser does (LogicalSessionFromClient: id required, uid
// optional).
func (x *exec) lsidList() (map[string]bool, error) {
	v, _ := value.Lookup(x.cmd, x.name)
	arr, ok := v.(bson.A)
	if !ok {
		return nil, wrongType(x.name, x.name, v, "array")
	}
	ids := make(map[string]bool, len(arr))
	for _, e := range arr {
		d, ok := e.(bson.D)
		if !ok {
			return nil, wrongType(x.name, x.name, e, "object")
		}
		idV, ok := value.Lookup(d, "id")
		if !ok {
			return nil, mongoerr.New(40414, "BSON field 'LogicalSessionFromClient.id' is missing but a required field")
		}
		if b, isBin := idV.(bson.Binary); !isBin || b.Subtype != bson.TypeBinaryUUID || len(b.Data) != 16 {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field 'LogicalSessionFromClient.id' is the wrong type, expected type 'UUID'")
		}
		id, _ := lsidKey(d)
		ids[id] = true
	}
	return ids, nil
}

// killSessions kills the listed sessions; an empty list kills all of them
// (without access control, "all sessions").
func (x *exec) killSessions() (bson.D, error) {
	ids, err := x.lsidList()
	if err != nil {
		return nil, err
	}
	match := matchSet(ids)
	if len(ids) == 0 {
		match = matchAll
	}
	x.s.killMatching(match)
	return okReply(), nil
}

// killAllSessions kills the sessions of the listed users, all sessions for
// an empty list. Without access control every session belongs to no user,
// so a non-empty list matches none.
func (x *exec) killAllSessions() (bson.D, error) {
	v, _ := value.Lookup(x.cmd, x.name)
	arr, ok := v.(bson.A)
	if !ok {
		return nil, wrongType(x.name, x.name, v, "array")
	}
	match := matchNone
	if len(arr) == 0 {
		match = matchAll
	}
	x.s.killMatching(match)
	return okReply(), nil
}

// noAuthUID is the owner hash of sessions started without authentication:
// the SHA-256 of the empty user name (logical_session_id_helpers.cpp).
var noAuthUID = sha256.Sum256(nil)

// killAllSessionsByPattern kills the sessions matching any pattern:
// {lsid: {id}}, {uid}, {users}, {roles}, or {} for all; an empty list
// kills all sessions.
func (x *exec) killAllSessionsByPattern() (bson.D, error) {
	v, _ := value.Lookup(x.cmd, x.name)
	arr, ok := v.(bson.A)
	if !ok {
		return nil, wrongType(x.name, x.name, v, "array")
	}
	all := len(arr) == 0
	ids := map[string]bool{}
	for _, e := range arr {
		p, ok := e.(bson.D)
		if !ok {
			return nil, wrongType(x.name, x.name, e, "object")
		}
		lsidV, hasLSID := value.Lookup(p, "lsid")
		uidV, hasUID := value.Lookup(p, "uid")
		_, hasUsers := value.Lookup(p, "users")
		_, hasRoles := value.Lookup(p, "roles")
		switch {
		case hasLSID:
			id, err := lsidKey(value.AsDoc(lsidV))
			if err != nil {
				return nil, err
			}
			ids[id] = true
		case hasUID:
			if b, _ := uidV.(bson.Binary); slices.Equal(b.Data, noAuthUID[:]) {
				all = true
			}
		case hasUsers || hasRoles:
			// No session has an authenticated owner.
		default:
			all = true
		}
	}
	match := matchSet(ids)
	if all {
		match = matchAll
	}
	x.s.killMatching(match)
	return okReply(), nil
}

// endSessions marks the listed sessions as ending; the next session refresh
// closes their cursors and forgets them.
func (x *exec) endSessions() (bson.D, error) {
	ids, err := x.lsidList()
	if err != nil {
		return nil, err
	}
	x.s.sessions.markEnding(ids)
	return okReply(), nil
}

// refreshSessions is the logical session cache refresh as far as ended
// sessions go: their cursors close, and their state is forgotten ("State
// associated with an expired session may be cleaned up by the server at any
// time", hello's logicalSessionTimeoutMinutes in the sessions spec) unless a
// transaction is still open, which the lifetime limit will abort.
func (s *Server) refreshSessions() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SessionRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ending := s.sessions.takeEnding()
			if len(ending) == 0 {
				continue
			}
			s.cursors.killMatching(matchSet(ending))
			s.store.mu.Lock()
			for id := range ending {
				if !s.sessions.forgetUnlessOpen(id) {
					s.sessions.markEnding(map[string]bool{id: true})
				}
			}
			s.store.mu.Unlock()
		}
	}
}
