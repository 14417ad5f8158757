package emulator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Change streams: aggregate with $changeStream first opens a tailable,
// awaitData cursor over the oplog; getMore returns the events logged since,
// waiting up to maxTimeMS (1 s by default) for the first one. Behaviour
// follows the server design document (mongodb/mongo docs/change_streams.md)
// and the manual's "Change Events" and "$changeStream" pages.

// changeStreamStages are the stages allowed after $changeStream
// (docs/change_streams.md, "Parameters"); any other is IllegalOperation.
var changeStreamStages = map[string]bool{"$match": true, "$project": true, "$addFields": true, "$set": true,
	"$unset": true, "$replaceRoot": true, "$replaceWith": true, "$redact": true}

// defaultAwait is how long a getMore on a change stream waits for events
// without maxTimeMS (SERVER-19665).
const defaultAwait = time.Second

// Codes the change stream machinery raises (error_codes.yml).
const (
	codeChangeStreamFatal       = 280
	codeChangeStreamHistoryLost = 286
	codeIllegalOperation        = 20
	codeNoMatchingDocument      = 47
	codeInvalidResumeToken      = 260
)

func csError(code int32, name, msg string) *mongoerr.Error {
	e := &mongoerr.Error{Code: code, Name: name, Msg: msg}
	if code == codeChangeStreamFatal || code == codeChangeStreamHistoryLost {
		// The server labels these so that drivers never resume them
		// (error_labels.cpp, isNonResumableChangeStreamError).
		e.Labels = []string{"NonResumableChangeStreamError"}
	}
	return e
}

func historyLost() *mongoerr.Error {
	return csError(codeChangeStreamHistoryLost, "ChangeStreamHistoryLost",
		"Resume of change stream was not possible, as the resume point may no longer be in the oplog.")
}

type csScope int

const (
	scopeCollection csScope = iota
	scopeDatabase
	scopeCluster
)

// changeStream is a change stream cursor's state. It is only touched by
// the getMore that has checked its cursor out, with store.mu held.
type changeStream struct {
	scope    csScope
	db, coll string
	// pos is where the stream stands: it returns entries after pos.
	pos            csPos
	fullDocument   string
	beforeChange   string
	expanded       bool
	pipeline       *agg.Pipeline
	invalidateNext *oplogEntry // an invalidate owed after a batch filled up
	closed         bool
}

func isChangeStream(pipeline bson.A) bool {
	if len(pipeline) == 0 {
		return false
	}
	d, ok := pipeline[0].(bson.D)
	return ok && len(d) == 1 && d[0].Key == "$changeStream"
}

// openChangeStream runs an aggregate whose first stage is $changeStream.
// coll is "" for a database or cluster stream (aggregate: 1).
func (x *exec) openChangeStream(coll string, pipeline bson.A) (bson.D, error) {
	if x.txn != nil {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "$changeStream cannot run within a multi-document transaction")
	}
	spec, ok := pipeline[0].(bson.D)[0].Value.(bson.D)
	if !ok {
		return nil, mongoerr.New(50808, "$changeStream stage expects a document as argument")
	}
	cs := &changeStream{db: x.db, coll: coll, fullDocument: "default", beforeChange: "off"}
	var resumeAfter, startAfter, startAt any
	for _, e := range spec {
		switch e.Key {
		case "fullDocument":
			s, _ := e.Value.(string)
			if !slices.Contains([]string{"default", "updateLookup", "whenAvailable", "required"}, s) {
				return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%v' for field '$changeStream.fullDocument' is not a valid value.", e.Value)
			}
			cs.fullDocument = s
		case "fullDocumentBeforeChange":
			s, _ := e.Value.(string)
			if !slices.Contains([]string{"off", "whenAvailable", "required"}, s) {
				return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%v' for field '$changeStream.fullDocumentBeforeChange' is not a valid value.", e.Value)
			}
			cs.beforeChange = s
		case "resumeAfter":
			resumeAfter = e.Value
		case "startAfter":
			startAfter = e.Value
		case "startAtOperationTime":
			startAt = e.Value
		case "allChangesForCluster":
			if b, _ := e.Value.(bool); b {
				cs.scope = scopeCluster
			}
		case "showExpandedEvents":
			cs.expanded, _ = e.Value.(bool)
		case "showSystemEvents", "showRawUpdateDescription", "allowToRunOnConfigDB", "allowToRunOnSystemNS":
		default:
			return nil, mongoerr.New(40415, "BSON field '$changeStream.%s' is an unknown field.", e.Key)
		}
	}
	switch {
	case cs.scope == scopeCluster:
		if x.db != "admin" || coll != "" {
			return nil, mongoerr.New(mongoerr.InvalidOptions, "A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name")
		}
	case coll == "":
		cs.scope = scopeDatabase
		if x.db == "admin" || x.db == "config" || x.db == "local" {
			return nil, mongoerr.New(mongoerr.InvalidNamespace, "$changeStream may not be opened on the internal %s database", x.db)
		}
	default:
		if x.db == "admin" || x.db == "config" || x.db == "local" || strings.HasPrefix(coll, "system.") {
			return nil, mongoerr.New(mongoerr.InvalidNamespace, "$changeStream may not be opened on the internal %s.%s collection", x.db, coll)
		}
	}
	if err := cs.compile(x, pipeline[1:]); err != nil {
		return nil, err
	}
	// The checks and codes of DocumentSourceChangeStream's spec parsing
	// (mongodb/mongo src/mongo/db/pipeline/document_source_change_stream.cpp).
	if resumeAfter != nil && startAfter != nil {
		return nil, mongoerr.New(50865, "Do not specify both 'resumeAfter' and 'startAfter' in a $changeStream stage")
	}
	if startAt != nil && (resumeAfter != nil || startAfter != nil) {
		return nil, mongoerr.New(40674, "Only one type of resume option is allowed, but multiple were found")
	}
	l := x.s.store.changes
	cs.pos = csPos{ts: x.s.store.last + 1, typ: tokenHighWaterMark}
	switch {
	case resumeAfter != nil || startAfter != nil:
		tok := resumeAfter
		if tok == nil {
			tok = startAfter
		}
		p, err := parseToken(tok)
		if err != nil {
			return nil, err
		}
		if p.inval && resumeAfter != nil {
			return nil, csError(codeInvalidResumeToken, "InvalidResumeToken", "Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification.")
		}
		cs.pos = p
		if p.typ == tokenEvent {
			e := l.find(p)
			if e == nil {
				if at := (csPos{ts: p.ts, typ: p.typ, idx: p.idx}); l.floor.cmp(at) >= 0 {
					return nil, historyLost()
				}
				return nil, csError(codeChangeStreamFatal, "ChangeStreamFatalError", "cannot resume stream; the resume token was not found.")
			}
			if !p.inval && cs.invalidatedBy(e) {
				cs.invalidateNext = e
			}
		}
	case startAt != nil:
		ts, ok := startAt.(bson.Timestamp)
		if !ok {
			return nil, wrongType(x.name, "$changeStream.startAtOperationTime", startAt, "timestamp")
		}
		cs.pos = csPos{ts: fromTimestamp(ts), typ: tokenHighWaterMark}
	}
	if l.floor.cmp(cs.pos) > 0 {
		return nil, historyLost()
	}

	curOpt, _ := value.Lookup(x.cmd, "cursor")
	limit, hasBatch, err := intField(value.AsDoc(curOpt), x.name, "batchSize")
	if err != nil {
		return nil, err
	}
	if !hasBatch {
		limit = defaultFirstBatch
	}
	batch, err := cs.fill(x, int(limit))
	if err != nil {
		return nil, err
	}
	nsColl := coll
	if nsColl == "" {
		nsColl = "$cmd.aggregate"
	}
	var id int64
	if !cs.closed {
		c := &cursor{ns: x.ns(nsColl), cs: cs}
		if x.sess != nil {
			c.lsid = x.sess.id
		}
		id = x.s.cursors.add(c)
	}
	return cs.reply(x, nsColl, "firstBatch", batch, id), nil
}

func (cs *changeStream) compile(x *exec, stages bson.A) error {
	vars, err := x.letVars()
	if err != nil {
		return err
	}
	p, err := agg.Compile(stages, x.aggEnv(vars))
	if err != nil {
		return err
	}
	for _, s := range stages {
		d, _ := s.(bson.D)
		if len(d) == 1 && !changeStreamStages[d[0].Key] {
			return csError(codeIllegalOperation, "IllegalOperation", d[0].Key+" is not permitted in a $changeStream pipeline")
		}
	}
	cs.pipeline = p
	return nil
}

func (cs *changeStream) reply(x *exec, nsColl, field string, batch []bson.D, id int64) bson.D {
	arr := make(bson.A, len(batch))
	for i, d := range batch {
		arr[i] = d
	}
	return okReply(bson.E{Key: "cursor", Value: bson.D{
		{Key: field, Value: arr},
		{Key: "postBatchResumeToken", Value: cs.pos.token()},
		{Key: "id", Value: id},
		{Key: "ns", Value: x.ns(nsColl)},
	}})
}

// fill returns up to limit events after cs.pos and advances cs.pos past
// what it scanned. Once everything logged has been scanned, the position
// becomes a high-water mark just after the newest cluster time, which is
// what postBatchResumeToken then reports.
func (cs *changeStream) fill(x *exec, limit int) ([]bson.D, error) {
	st := x.s.store
	l := st.changes
	if l.floor.cmp(cs.pos) > 0 {
		return nil, historyLost()
	}
	var batch []bson.D
	add := func(ev bson.D, p csPos) error {
		out, err := cs.pipeline.Run([]bson.D{ev})
		if err != nil {
			return err
		}
		for _, d := range out {
			id, _ := value.Lookup(d, "_id")
			if !value.Equal(id, p.token()) {
				return csError(codeChangeStreamFatal, "ChangeStreamFatalError",
					"Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.")
			}
			batch = append(batch, d)
		}
		return nil
	}
	for !cs.closed && len(batch) < limit {
		if e := cs.invalidateNext; e != nil {
			cs.invalidateNext = nil
			p := e.pos
			p.inval = true
			cs.pos, cs.closed = p, true
			if err := add(invalidateEvent(e, p), p); err != nil {
				return nil, err
			}
			break
		}
		i := l.after(cs.pos)
		if i == len(l.entries) {
			if hw := (csPos{ts: st.last + 1, typ: tokenHighWaterMark}); hw.cmp(cs.pos) > 0 {
				cs.pos = hw
			}
			break
		}
		e := l.entries[i]
		cs.pos = e.pos
		if cs.invalidatedBy(e) {
			cs.invalidateNext = e
		}
		if !cs.sees(e) {
			continue
		}
		ev, err := cs.event(x, e)
		if err != nil {
			return nil, err
		}
		if err := add(ev, e.pos); err != nil {
			return nil, err
		}
	}
	return batch, nil
}

// sees reports whether the stream reports e.
func (cs *changeStream) sees(e *oplogEntry) bool {
	switch e.db {
	case "admin", "config", "local":
		return false
	}
	if strings.HasPrefix(e.coll, "system.") {
		return false
	}
	if !cs.expanded {
		switch e.op {
		case "create", "createIndexes", "dropIndexes", "modify":
			return false
		}
	}
	switch cs.scope {
	case scopeCluster:
		return true
	case scopeDatabase:
		return e.db == cs.db
	}
	// A collection stream does not report the dropDatabase itself, only
	// the drop of its collection that precedes it, then invalidates.
	return e.db == cs.db && e.coll == cs.coll && e.op != "dropDatabase"
}

// invalidatedBy reports whether e ends the stream: a collection stream on
// the drop or rename of its collection or the drop of its database, a
// database stream on the drop of its database; cluster streams never end.
func (cs *changeStream) invalidatedBy(e *oplogEntry) bool {
	switch cs.scope {
	case scopeCollection:
		return e.db == cs.db && (e.op == "dropDatabase" || (e.coll == cs.coll && (e.op == "drop" || e.op == "rename")))
	case scopeDatabase:
		return e.db == cs.db && e.op == "dropDatabase"
	}
	return false
}

func invalidateEvent(e *oplogEntry, p csPos) bson.D {
	return bson.D{
		{Key: "_id", Value: p.token()},
		{Key: "operationType", Value: "invalidate"},
		{Key: "clusterTime", Value: timestamp(e.pos.ts)},
		{Key: "wallTime", Value: bson.NewDateTimeFromTime(e.wall)},
	}
}

// event renders e as the change event this stream reports.
func (cs *changeStream) event(x *exec, e *oplogEntry) (bson.D, error) {
	ev := bson.D{
		{Key: "_id", Value: e.pos.token()},
		{Key: "operationType", Value: e.op},
		{Key: "clusterTime", Value: timestamp(e.pos.ts)},
		{Key: "wallTime", Value: bson.NewDateTimeFromTime(e.wall)},
	}
	if cs.expanded && e.uuid.Data != nil {
		ev = append(ev, bson.E{Key: "collectionUUID", Value: e.uuid})
	}
	switch e.op {
	case "insert", "replace":
		ev = append(ev, bson.E{Key: "fullDocument", Value: e.post})
	case "update":
		switch cs.fullDocument {
		case "updateLookup":
			ev = append(ev, bson.E{Key: "fullDocument", Value: x.lookupCurrent(e)})
		case "whenAvailable", "required":
			if !e.images {
				if cs.fullDocument == "required" {
					return nil, csError(codeNoMatchingDocument, "NoMatchingDocument", "Change stream was configured to require a post-image for all update events, but the post-image was not found for event: "+e.pos.token()[0].Value.(string))
				}
				ev = append(ev, bson.E{Key: "fullDocument", Value: nil})
			} else {
				ev = append(ev, bson.E{Key: "fullDocument", Value: e.post})
			}
		}
	}
	ns := bson.D{{Key: "db", Value: e.db}}
	if e.coll != "" {
		ns = append(ns, bson.E{Key: "coll", Value: e.coll})
	}
	ev = append(ev, bson.E{Key: "ns", Value: ns})
	if e.op == "rename" {
		ev = append(ev, bson.E{Key: "to", Value: bson.D{{Key: "db", Value: e.toDB}, {Key: "coll", Value: e.toColl}}})
	}
	if e.docKey != nil {
		ev = append(ev, bson.E{Key: "documentKey", Value: e.docKey})
	}
	if e.upd != nil {
		ev = append(ev, bson.E{Key: "updateDescription", Value: e.upd.doc(cs.expanded)})
	}
	switch e.op {
	case "update", "replace", "delete":
		if cs.beforeChange != "off" {
			switch {
			case e.images:
				ev = append(ev, bson.E{Key: "fullDocumentBeforeChange", Value: e.pre})
			case cs.beforeChange == "required":
				return nil, csError(codeNoMatchingDocument, "NoMatchingDocument", "Change stream was configured to require a pre-image for all update, delete and replace events, but the pre-image was not found for event: "+e.pos.token()[0].Value.(string))
			default:
				ev = append(ev, bson.E{Key: "fullDocumentBeforeChange", Value: nil})
			}
		}
	}
	if cs.expanded && e.opDesc != nil {
		ev = append(ev, bson.E{Key: "operationDescription", Value: e.opDesc})
	}
	if e.inTxn {
		ev = append(ev,
			bson.E{Key: "lsid", Value: bson.D{{Key: "id", Value: e.lsid}, {Key: "uid", Value: sessionUID}}},
			bson.E{Key: "txnNumber", Value: e.txnNumber})
	}
	return ev, nil
}

// lookupCurrent is updateLookup: the document's current version, or null
// when it no longer exists.
func (x *exec) lookupCurrent(e *oplogEntry) any {
	c := x.s.store.collection(e.db, e.coll)
	if c == nil || c.pending != nil {
		return nil
	}
	latest := &view{st: x.s.store, ctx: x.ctx}
	id, _ := value.Lookup(e.docKey, "_id")
	if _, d := latest.byID(c, id); d != nil {
		return d
	}
	return nil
}

// changeStreamGetMore serves getMore on a change stream cursor c, which
// the caller has checked out; it runs with store.mu held shared and
// releases it while waiting for events.
func (x *exec) changeStreamGetMore(c *cursor, batchSize int64) (bson.D, error) {
	if err := x.s.store.changes.fail.check(); err != nil {
		if errors.Is(err, errCloseConnection) {
			x.s.cursors.put(c)
		}
		return nil, err
	}
	cs := c.cs
	limit := int(batchSize)
	if limit <= 0 {
		limit = int(^uint(0) >> 1)
	}
	await := defaultAwait
	if ms, ok, _ := x.intArg("maxTimeMS"); ok && ms > 0 {
		await = time.Duration(ms) * time.Millisecond
	}
	timer := time.NewTimer(await)
	defer timer.Stop()
	st := x.s.store
	var batch []bson.D
	for {
		var err error
		if batch, err = cs.fill(x, limit); err != nil {
			return nil, err
		}
		if len(batch) > 0 || cs.closed {
			break
		}
		changed := st.changes.changed()
		st.mu.RUnlock()
		timedOut := false
		select {
		case <-changed:
		case <-timer.C:
			timedOut = true
		case <-x.ctx.Done():
			timedOut = true
		case <-x.s.stop:
		}
		st.mu.RLock()
		if cause := context.Cause(x.ctx); cause != nil && mongoerr.As(cause) != nil {
			return nil, cause // the session was killed
		}
		if st.closed {
			return nil, mongoerr.New(mongoerr.ShutdownInProgress, "The server is shutting down")
		}
		if timedOut {
			if batch, err = cs.fill(x, limit); err != nil {
				return nil, err
			}
			break
		}
	}
	id := c.id
	if cs.closed {
		id = 0
	} else {
		x.s.cursors.put(c)
	}
	return cs.reply(x, strings.TrimPrefix(c.ns, x.db+"."), "nextBatch", batch, id), nil
}

// getMoreFailPoint is failGetMoreAfterCursorCheckout: getMore fails after
// it has found its cursor, so, on a change stream, the server treats the
// error as it would a real one and adds ResumableChangeStreamError where
// it applies (unlike failCommand, which fails before the cursor is known;
// SERVER-46091).
type getMoreFailPoint struct {
	mu    sync.Mutex
	fp    failPoint
	code  int32
	close bool
}

func (f *getMoreFailPoint) configure(cmd bson.D) (int, error) {
	modeV, _ := value.Lookup(cmd, "mode")
	dataV, _ := value.Lookup(cmd, "data")
	f.mu.Lock()
	defer f.mu.Unlock()
	on, err := f.fp.setMode(modeV)
	if err != nil || !on {
		return 0, err
	}
	f.code, f.close = 0, false
	for _, e := range value.AsDoc(dataV) {
		switch e.Key {
		case "errorCode":
			n, _ := value.ToInt64(e.Value)
			f.code = int32(n)
		case "closeConnection":
			f.close, _ = e.Value.(bool)
		}
	}
	f.fp.active = true
	return 1, nil
}

// resumableChangeStreamCodes get ResumableChangeStreamError on a change
// stream getMore: the network, retriable, not-primary and stale-routing
// categories of error_codes.yml (error_labels.cpp,
// isResumableChangeStreamError).
var resumableChangeStreamCodes = map[int32]bool{6: true, 7: true, 89: true, 91: true, 133: true, 150: true,
	189: true, 234: true, 262: true, 63: true, 9001: true, 10107: true, 11600: true, 11602: true, 13388: true,
	13435: true, 13436: true, 43: true}

func (f *getMoreFailPoint) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.fp.fire() {
		return nil
	}
	if f.close {
		return errCloseConnection
	}
	if f.code == 0 {
		return nil
	}
	e := mongoerr.New(f.code, "Failing command via 'failGetMoreAfterCursorCheckout' failpoint")
	if resumableChangeStreamCodes[f.code] {
		e.Labels = []string{"ResumableChangeStreamError"}
	}
	return e
}
