package emulator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// cmdFlags describe how a command runs.
type cmdFlags int

const (
	// fWrite commands take the store lock exclusively.
	fWrite cmdFlags = 1 << iota
	// fTxn commands may run inside a multi-document transaction.
	fTxn
	// fRetryable commands are retryable writes when they carry a txnNumber.
	fRetryable
	// fWriteConcern commands report a fail point's writeConcernError.
	fWriteConcern
)

type command struct {
	run   func(x *exec) (bson.D, error)
	flags cmdFlags
}

// commands maps command names as sent (MongoDB's names are case-sensitive
// apart from the isMaster spellings) to their handlers. Set up in init to
// break the initialization cycle through the handlers.
var commands map[string]command

func init() {
	w := fWrite | fWriteConcern
	commands = map[string]command{
		"hello":                    {run: (*exec).hello},
		"isMaster":                 {run: (*exec).hello},
		"ismaster":                 {run: (*exec).hello},
		"ping":                     {run: (*exec).ping},
		"buildInfo":                {run: (*exec).buildInfo},
		"buildinfo":                {run: (*exec).buildInfo},
		"getParameter":             {run: (*exec).getParameter},
		"serverStatus":             {run: (*exec).serverStatus},
		"hostInfo":                 {run: (*exec).hostInfo},
		"whatsmyuri":               {run: (*exec).whatsMyURI},
		"connectionStatus":         {run: (*exec).connectionStatus},
		"getCmdLineOpts":           {run: (*exec).getCmdLineOpts},
		"listCommands":             {run: (*exec).listCommands},
		"endSessions":              {run: (*exec).endSessions},
		"killSessions":             {run: (*exec).killSessions, flags: fWrite},
		"killAllSessions":          {run: (*exec).killAllSessions, flags: fWrite},
		"killAllSessionsByPattern": {run: (*exec).killAllSessionsByPattern, flags: fWrite},
		"refreshSessions":          {run: (*exec).ping},
		"startSession":             {run: (*exec).startSession},
		"configureFailPoint":       {run: (*exec).configureFailPoint},
		"commitTransaction":        {run: (*exec).commitTransaction, flags: w | fTxn},
		"abortTransaction":         {run: (*exec).abortTransaction, flags: w | fTxn},
		"insert":                   {run: (*exec).insert, flags: w | fTxn | fRetryable},
		"update":                   {run: (*exec).update, flags: w | fTxn | fRetryable},
		"delete":                   {run: (*exec).delete, flags: w | fTxn | fRetryable},
		"findAndModify":            {run: (*exec).findAndModify, flags: w | fTxn | fRetryable},
		"findandmodify":            {run: (*exec).findAndModify, flags: w | fTxn | fRetryable},
		"find":                     {run: (*exec).find, flags: fTxn},
		"getMore":                  {run: (*exec).getMore, flags: fTxn},
		"killCursors":              {run: (*exec).killCursors, flags: fTxn},
		"aggregate":                {run: (*exec).aggregate, flags: w | fTxn},
		"count":                    {run: (*exec).count},
		"distinct":                 {run: (*exec).distinct, flags: fTxn},
		"create":                   {run: (*exec).create, flags: w | fTxn},
		"drop":                     {run: (*exec).drop, flags: w},
		"dropDatabase":             {run: (*exec).dropDatabase, flags: w},
		"listDatabases":            {run: (*exec).listDatabases},
		"listCollections":          {run: (*exec).listCollections},
		"createIndexes":            {run: (*exec).createIndexes, flags: w | fTxn},
		"dropIndexes":              {run: (*exec).dropIndexes, flags: w},
		"listIndexes":              {run: (*exec).listIndexes},
		"collMod":                  {run: (*exec).collMod, flags: w},
		"renameCollection":         {run: (*exec).renameCollection, flags: w},
		"dbStats":                  {run: (*exec).dbStats},
		"collStats":                {run: (*exec).collStats},
	}
	maps.Copy(commands, shellCommands)
}

// exec is one command being run.
type exec struct {
	ctx  context.Context
	s    *Server
	conn *conn
	db   string
	name string
	cmd  bson.D
	sess *session     // nil without lsid
	txn  *transaction // non-nil inside a transaction
	view *view
	// autocommit is set when the command carried autocommit:false, i.e. it
	// is a transaction statement (even if the transaction already ended).
	autocommit bool
	// atClusterTime is set for a snapshot read outside a transaction; the
	// reply reports it so the driver can pin later reads of the session.
	atClusterTime uint64
	// retry records a retryable write's statements; nil otherwise.
	retry *retryRecord
}

// session metadata a command may carry.
type sessionArgs struct {
	lsid         string
	lsidUUID     bson.Binary
	hasLSID      bool
	txnNumber    int64
	hasTxnNumber bool
	autocommit   bool // the autocommit field is present (always false)
	start        bool
}

func parseSessionArgs(cmd bson.D) (sessionArgs, error) {
	var a sessionArgs
	for _, e := range cmd {
		switch e.Key {
		case "lsid":
			d, ok := e.Value.(bson.D)
			if !ok {
				return a, mongoerr.New(mongoerr.TypeMismatch, "lsid must be an object")
			}
			id, err := lsidUUID(d)
			if err != nil {
				return a, err
			}
			a.lsid, a.lsidUUID, a.hasLSID = fmt.Sprintf("%x", id.Data), id, true
		case "txnNumber":
			n, ok := value.ToInt64(e.Value)
			if !ok {
				return a, mongoerr.New(mongoerr.TypeMismatch, "txnNumber must be a number")
			}
			a.txnNumber, a.hasTxnNumber = n, true
		case "autocommit":
			if b, ok := e.Value.(bool); ok && b {
				return a, mongoerr.New(mongoerr.InvalidOptions, "autocommit must be false")
			}
			a.autocommit = true
		case "startTransaction":
			a.start, _ = e.Value.(bool)
		}
	}
	if (a.autocommit || a.start) && !a.hasTxnNumber {
		return a, mongoerr.New(mongoerr.InvalidOptions, "txnNumber is required for a transaction statement")
	}
	if a.hasTxnNumber && !a.hasLSID {
		return a, mongoerr.New(mongoerr.InvalidOptions, "Transaction number requires a session ID to also be specified")
	}
	return a, nil
}

// handle runs one request and returns the reply; closeConn asks the caller
// to drop the connection without replying (a fail point did so).
func (s *Server) handle(c *conn, m *message) (reply bson.D, closeConn bool) {
	if len(m.body) == 0 {
		return s.errorReply(mongoerr.New(mongoerr.FailedToParse, "empty command"), nil), false
	}
	name := m.body[0].Key
	cmd, known := commands[name]
	if !known {
		return s.errorReply(mongoerr.New(mongoerr.CommandNotFound, "no such command: '%s'", name), nil), false
	}
	db, _ := value.Lookup(m.body, "$db")
	dbName, _ := db.(string)
	if m.legacy && dbName == "" {
		dbName = "admin"
	}

	// killed is cancelled, with errInterrupted as the cause, when the
	// command's session is killed; maxTimeMS bounds ctx within it.
	killed, kill := context.WithCancelCause(context.Background())
	defer kill(nil)
	ctx := killed
	if ms, ok := value.Lookup(m.body, "maxTimeMS"); ok {
		if n, ok := value.ToInt64(ms); ok && n > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(n)*time.Millisecond)
			defer cancel()
		}
	}
	attach := attachesSession(name)
	var lsid string
	if lsidV, ok := value.Lookup(m.body, "lsid"); ok && attach {
		if id, err := lsidKey(value.AsDoc(lsidV)); err == nil {
			lsid = id
		}
	}
	defer s.ops.remove(s.ops.start(lsid, kill, c, dbName, m.body))

	var fp fpAction
	var fired bool
	if name != "configureFailPoint" {
		fp, fired = s.fail.check(name, c.appName)
	}
	if fired && fp.block > 0 {
		// failCommand blocks with opCtx->sleepFor, which a session kill
		// interrupts (mongodb/mongo src/mongo/db/commands.cpp
		// evaluateFailCommandFailPoint).
		t := time.NewTimer(fp.block)
		select {
		case <-t.C:
		case <-killed.Done():
			t.Stop()
			return s.errorReply(context.Cause(killed), nil), false
		case <-s.stop:
			t.Stop()
			return nil, true
		}
	}
	if fired && fp.close {
		return nil, true
	}

	args, err := parseSessionArgs(m.body)
	if err != nil {
		return s.errorReply(err, nil), false
	}
	if args.hasTxnNumber && s.cfg.Standalone {
		// mongod checks this as it reads the command's session fields
		// (jstests/noPassthrough/retryable_writes_standalone_api.js).
		return s.errorReply(mongoerr.New(mongoerr.IllegalOperation,
			"Transaction numbers are only allowed on a replica set member or mongos"), nil), false
	}
	inTxn := args.autocommit
	if inTxn && cmd.flags&fTxn == 0 {
		return s.errorReply(mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Cannot run '%s' in a multi-document transaction.", name), nil), false
	}

	x := &exec{ctx: ctx, s: s, conn: c, db: dbName, name: name, cmd: m.body, autocommit: inTxn}
	if args.hasLSID && attach {
		x.sess = s.sessions.get(args.lsid, args.lsidUUID)
	}
	st := s.store
	write := cmd.flags&fWrite != 0 || inTxn || (args.hasTxnNumber && cmd.flags&fRetryable != 0)
	if write {
		st.mu.Lock()
		defer st.mu.Unlock()
	} else {
		st.mu.RLock()
		defer st.mu.RUnlock()
	}
	x.view = &view{st: st, ctx: ctx, ts: st.last}

	reply, err = s.run(x, cmd, args, fp, fired)
	opTime := st.last
	if x.view.writeTS != 0 {
		opTime = x.view.writeTS
	}

	labels := func(code, wcCode int32) []string {
		if fired && fp.hasLabels {
			return fp.labels
		}
		return serverLabels(code, wcCode, args, cmd.flags&fRetryable != 0, isCommitOrAbort(name))
	}
	if errors.Is(err, errCloseConnection) {
		return nil, true
	}
	if err != nil {
		e := mongoerr.As(err)
		if e == nil {
			e = mongoerr.New(mongoerr.InternalError, "%v", err)
		}
		return s.finish(s.errorReply(e, labels(e.Code, 0)), opTime), false
	}
	wcErr := x.writeConcernError()
	if fired && fp.wcErr != nil && cmd.flags&fWriteConcern != 0 {
		wcErr = slices.Clone(fp.wcErr)
	}
	if wcErr != nil && cmd.flags&fWriteConcern != 0 {
		wc := wcErr
		reply = append(reply, bson.E{Key: "writeConcernError", Value: wc})
		code, _ := value.Lookup(wc, "code")
		n, _ := value.ToInt64(code)
		if ls := labels(0, int32(n)); len(ls) > 0 {
			reply = append(reply, bson.E{Key: "errorLabels", Value: toArray(ls)})
		}
	}
	return s.finish(reply, opTime), false
}

// run applies the session and transaction rules around the handler. The
// store lock is held.
func (s *Server) run(x *exec, cmd command, args sessionArgs, fp fpAction, fired bool) (bson.D, error) {
	if fired && fp.err != nil {
		// failCommand fails the command before the transaction machinery
		// sees it: the transaction is neither started nor aborted, so a
		// driver may retry the statement (the backpressure spec tests
		// retry a failed first statement of a transaction).
		return nil, fp.err
	}
	if err := x.checkReadConcern(); err != nil {
		return nil, err
	}
	st := s.store
	retryable := args.hasTxnNumber && !args.autocommit && cmd.flags&fRetryable != 0
	switch {
	case args.autocommit:
		t, err := st.begin(x.sess, args.txnNumber, args.start, x.name)
		if err != nil {
			return nil, err
		}
		if t != nil {
			if t.snapshot == 0 {
				t.snapshot = st.last
			}
			x.txn = t
			x.view.txn = t
			x.view.ts = t.snapshot
			x.view.pinned = true
		}
	case retryable:
		rec, err := st.beginRetryableWrite(x.sess, args.txnNumber)
		if err != nil {
			return nil, err
		}
		if rec.reply != nil {
			return rec.reply, nil
		}
		x.retry = rec
	default:
		if err := x.applySnapshotReadConcern(); err != nil {
			return nil, err
		}
	}

	reply, err := cmd.run(x)
	if x.txn != nil && !isCommitOrAbort(x.name) && (err != nil || hasWriteErrors(reply)) {
		// A failed statement aborts its transaction; the next statement or
		// commit gets NoSuchTransaction (transactions spec, "Handling
		// command errors").
		st.abortOpen(x.sess)
	}
	return reply, err
}

// applySnapshotReadConcern serves {readConcern: {level: "snapshot"}}
// outside a transaction: reads at atClusterTime, or at the latest time.
func (x *exec) applySnapshotReadConcern() error {
	rc, ok := value.Lookup(x.cmd, "readConcern")
	if !ok {
		return nil
	}
	d, _ := rc.(bson.D)
	if lvl, _ := value.Lookup(d, "level"); lvl != "snapshot" {
		return nil
	}
	if at, ok := value.Lookup(d, "atClusterTime"); ok {
		ts, ok := at.(bson.Timestamp)
		if !ok {
			return mongoerr.New(mongoerr.TypeMismatch, "atClusterTime must be a Timestamp")
		}
		t := fromTimestamp(ts)
		if t > x.s.store.last {
			return mongoerr.New(mongoerr.BadValue, "atClusterTime %v is in the future", ts)
		}
		if t < x.s.store.last-historyWindow<<32 {
			return mongoerr.New(239, "Read timestamp %v is older than the oldest available timestamp.", ts)
		}
		x.view.ts = t
	}
	x.view.pinned = true
	x.atClusterTime = x.view.ts
	return nil
}

// snapshotCommands may read at a snapshot outside a transaction (MongoDB
// 5.0+: find, aggregate, distinct, and getMore on their cursors).
var snapshotCommands = map[string]bool{"find": true, "aggregate": true, "distinct": true, "getMore": true}

// checkReadConcern refuses readConcern level "snapshot" outside a
// transaction for commands that cannot read at a snapshot.
func (x *exec) checkReadConcern() error {
	if x.autocommit || snapshotCommands[x.name] {
		return nil
	}
	rc, ok := value.Lookup(x.cmd, "readConcern")
	if !ok {
		return nil
	}
	if lvl, _ := value.Lookup(value.AsDoc(rc), "level"); lvl == "snapshot" {
		return mongoerr.New(mongoerr.InvalidOptions, "Command %s does not support { readConcern: { level: \"snapshot\" } }", x.name)
	}
	return nil
}

// writeConcernError is what a single-node replica set reports for a write
// concern it cannot satisfy, after the write itself succeeded: w above one
// node (UnsatisfiableWriteConcern) or an unknown tag (UnknownReplWriteConcern).
func (x *exec) writeConcernError() bson.D {
	wcV, ok := value.Lookup(x.cmd, "writeConcern")
	if !ok {
		return nil
	}
	w, ok := value.Lookup(value.AsDoc(wcV), "w")
	if !ok {
		return nil
	}
	switch v := w.(type) {
	case string:
		if v == "majority" {
			return nil
		}
		return bson.D{{Key: "code", Value: int32(79)}, {Key: "codeName", Value: "UnknownReplWriteConcern"},
			{Key: "errmsg", Value: "No write concern mode named '" + v + "' found in replica set configuration"}}
	default:
		if n, ok := value.ToInt64(v); ok && n > 1 {
			return bson.D{{Key: "code", Value: int32(100)}, {Key: "codeName", Value: "UnsatisfiableWriteConcern"},
				{Key: "errmsg", Value: "Not enough data-bearing nodes"}}
		}
	}
	return nil
}

func isCommitOrAbort(name string) bool {
	return name == "commitTransaction" || name == "abortTransaction"
}

func hasWriteErrors(reply bson.D) bool {
	_, ok := value.Lookup(reply, "writeErrors")
	return ok
}

// retriable is MongoDB's ErrorCodes::isRetriableError set.
var retriable = map[int32]bool{6: true, 7: true, 89: true, 91: true, 134: true, 189: true, 262: true,
	9001: true, 10107: true, 11600: true, 11602: true, 13435: true, 13436: true}

// serverLabels are the error labels MongoDB attaches (error_labels.cpp): only
// for commands carrying txnNumber; TransientTransactionError for transaction
// statements, otherwise RetryableWriteError for retryable writes and
// commit/abort.
func serverLabels(code, wcCode int32, a sessionArgs, retryableCmd, commitOrAbort bool) []string {
	if !a.hasTxnNumber {
		return nil
	}
	if a.autocommit && code != 0 {
		transient := false
		switch code {
		case mongoerr.WriteConflict, mongoerr.LockTimeout, 267, 239, 246, 250, 272:
			transient = true
		case mongoerr.NoSuchTransaction:
			transient = !commitOrAbort || wcCode == 0
		default:
			transient = !commitOrAbort && retriable[code]
		}
		if transient {
			return []string{"TransientTransactionError"}
		}
	}
	if (!a.autocommit && retryableCmd) || (a.autocommit && commitOrAbort) {
		if retriable[code] || retriable[wcCode] {
			return []string{"RetryableWriteError"}
		}
	}
	return nil
}

func (s *Server) errorReply(e error, labels []string) bson.D {
	me := mongoerr.As(e)
	if me == nil {
		me = mongoerr.New(mongoerr.InternalError, "%v", e)
	}
	r := bson.D{
		{Key: "ok", Value: 0.0},
		{Key: "errmsg", Value: me.Msg},
		{Key: "code", Value: me.Code},
		{Key: "codeName", Value: me.Name},
	}
	for _, k := range sortedKeys(me.Info) {
		r = append(r, bson.E{Key: k, Value: me.Info[k]})
	}
	if labels = slices.Concat(labels, me.Labels); len(labels) > 0 {
		r = append(r, bson.E{Key: "errorLabels", Value: toArray(labels)})
	}
	return r
}

// finish adds what every reply carries: the operation time and the gossiped
// cluster time, both Timestamps (the driver panics on anything else).
func (s *Server) finish(reply bson.D, opTime uint64) bson.D {
	ts := timestamp(s.store.last)
	if opTime > s.store.last {
		ts = timestamp(opTime)
	}
	return append(reply,
		bson.E{Key: "$clusterTime", Value: bson.D{
			{Key: "clusterTime", Value: ts},
			{Key: "signature", Value: bson.D{
				{Key: "hash", Value: bson.Binary{Subtype: 0, Data: make([]byte, 20)}},
				{Key: "keyId", Value: int64(0)},
			}},
		}},
		bson.E{Key: "operationTime", Value: timestamp(opTime)},
	)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func toArray(ss []string) bson.A {
	a := make(bson.A, len(ss))
	for i, s := range ss {
		a[i] = s
	}
	return a
}
