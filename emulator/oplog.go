package emulator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// The oplog is the emulator's replication log, kept only to feed change
// streams: one entry per document write and per catalog change, in cluster
// time order, bounded to a number of entries like MongoDB's capped
// local.oplog.rs is bounded to a size. A transaction's writes enter it at
// commit, one entry per operation, all at the commit's cluster time (the
// server unwinds its applyOps entry the same way; mongodb/mongo
// docs/change_streams.md, "Transactions").
//
// Every field is guarded by store.mu: entries are appended by writers
// holding it exclusively and read by change stream cursors holding it
// shared, so a reader sees either all or none of a command's writes, and
// eviction can never open a gap a reader does not notice.

// defaultOplogSize is the number of entries kept when Config.OplogSize is 0.
const defaultOplogSize = 100_000

type oplog struct {
	limit   int
	entries []*oplogEntry
	// floor is the newest position no longer in the log: a resume point at
	// or before it has lost history. It starts at the log's creation time,
	// so tokens from before a restart are history lost, as they are for a
	// MongoDB node whose oplog no longer reaches back that far.
	floor csPos
	// txnOps are the writes of open transactions, logged at commit.
	txnOps map[*transaction][]*oplogEntry

	// nmu guards notify, which is closed (and dropped) when entries are
	// appended, waking getMores waiting for events.
	nmu    sync.Mutex
	notify chan struct{}

	// fail is the failGetMoreAfterCursorCheckout fail point.
	fail getMoreFailPoint
}

func newOplog(now uint64) *oplog {
	return &oplog{
		limit:  defaultOplogSize,
		floor:  csPos{ts: now, typ: tokenEvent, idx: ^uint32(0), inval: true},
		txnOps: map[*transaction][]*oplogEntry{},
	}
}

// oplogEntry is one change. Documents are shared with the store and never
// mutated.
type oplogEntry struct {
	pos  csPos
	wall time.Time
	op   string // insert update replace delete drop rename dropDatabase create createIndexes dropIndexes modify
	db   string
	coll string
	uuid bson.Binary
	// toDB/toColl name a rename's target.
	toDB, toColl string
	docKey       bson.D
	pre, post    bson.D
	// images records that the collection stored pre- and post-images
	// (changeStreamPreAndPostImages) when the write happened.
	images bool
	upd    *updateDesc
	// opDesc is the operationDescription of a DDL event.
	opDesc bson.D
	// lsid/txnNumber are set for the writes of a transaction.
	lsid      bson.Binary
	txnNumber int64
	inTxn     bool
}

// append adds an entry at ts, evicting the oldest beyond the limit.
// Callers hold store.mu exclusively.
func (l *oplog) append(e *oplogEntry, ts uint64) {
	e.pos = csPos{ts: ts, typ: tokenEvent}
	if n := len(l.entries); n > 0 && l.entries[n-1].pos.ts == ts {
		e.pos.idx = l.entries[n-1].pos.idx + 1
	}
	if e.wall.IsZero() {
		e.wall = time.Now()
	}
	l.entries = append(l.entries, e)
	if over := len(l.entries) - l.limit; over > 0 {
		l.floor = l.entries[over-1].pos
		clear(l.entries[:over])
		l.entries = l.entries[over:]
	}
	l.nmu.Lock()
	if l.notify != nil {
		close(l.notify)
		l.notify = nil
	}
	l.nmu.Unlock()
}

// changed returns a channel closed by the next append.
func (l *oplog) changed() <-chan struct{} {
	l.nmu.Lock()
	defer l.nmu.Unlock()
	if l.notify == nil {
		l.notify = make(chan struct{})
	}
	return l.notify
}

// after returns the index of the first entry after p.
func (l *oplog) after(p csPos) int {
	return sort.Search(len(l.entries), func(i int) bool { return l.entries[i].pos.cmp(p) > 0 })
}

// find returns the entry at an event position, or nil.
func (l *oplog) find(p csPos) *oplogEntry {
	p.inval = false
	i := sort.Search(len(l.entries), func(i int) bool { return l.entries[i].pos.cmp(p) >= 0 })
	if i < len(l.entries) && l.entries[i].pos == p {
		return l.entries[i]
	}
	return nil
}

// record logs e: at once outside a transaction, at commit inside one.
func (l *oplog) record(t *transaction, e *oplogEntry, ts uint64) {
	if t != nil {
		l.txnOps[t] = append(l.txnOps[t], e)
		return
	}
	l.append(e, ts)
}

// logWrite records a document write; store.put calls it after the write
// with the document as it was before. The update, if any, decides between
// an update and a replace event.
func (l *oplog) logWrite(v *view, c *collection, r *record, pre, post bson.D) {
	if pre == nil && post == nil {
		return
	}
	e := &oplogEntry{db: c.db, coll: c.name, uuid: c.uuid, pre: pre, post: post, images: imagesEnabled(c)}
	doc := post
	if doc == nil {
		doc = pre
	}
	id, _ := value.Lookup(doc, "_id")
	e.docKey = bson.D{{Key: "_id", Value: id}}
	switch {
	case pre == nil:
		e.op = "insert"
	case post == nil:
		e.op = "delete"
	default:
		e.op = "replace"
		if paths, ok := updatePaths(v.update); ok {
			e.op = "update"
			e.upd = diffDocs(pre, post, paths)
		}
	}
	if !e.images {
		// Without stored images only the inserted or replacing document
		// is ever reported; keep nothing else alive.
		e.pre = nil
		if e.op != "insert" && e.op != "replace" {
			e.post = nil
		}
	}
	l.record(v.txn, e, v.writeTS)
}

// commitTxn logs a committing transaction's writes at its commit time,
// with the session and transaction number, as the events of a transaction
// carry them.
func (l *oplog) commitTxn(s *session, t *transaction, ts uint64) {
	ops := l.txnOps[t]
	delete(l.txnOps, t)
	wall := time.Now()
	for _, e := range ops {
		e.lsid, e.txnNumber, e.inTxn, e.wall = s.lsid, t.number, true, wall
		l.append(e, ts)
	}
}

// forget drops an ended transaction's unlogged writes (it aborted).
func (l *oplog) forget(t *transaction) { delete(l.txnOps, t) }

// imagesEnabled reports changeStreamPreAndPostImages: {enabled: true}.
func imagesEnabled(c *collection) bool {
	o, _ := value.Lookup(c.options, "changeStreamPreAndPostImages")
	en, _ := value.Lookup(value.AsDoc(o), "enabled")
	b, _ := en.(bool)
	return b
}

// ddlTS gives a catalog change its cluster time: the command's write time,
// or a new one when an entry of this command already uses it, so each
// catalog change has a time of its own, as each is its own oplog entry.
func (x *exec) ddlTS() uint64 {
	l := x.s.store.changes
	if n := len(l.entries); x.view.writeTS != 0 && n > 0 && l.entries[n-1].pos.ts == x.view.writeTS {
		x.view.writeTS = 0
	}
	x.touch()
	return x.view.writeTS
}

func (x *exec) logDDL(e *oplogEntry) {
	l := x.s.store.changes
	if x.txn != nil {
		x.touch()
		l.record(x.txn, e, 0)
		return
	}
	l.append(e, x.ddlTS())
}

// logCreate records a collection's creation (explicit or on first write).
func (x *exec) logCreate(c *collection) {
	desc := bson.D{{Key: "idIndex", Value: c.indexes[0].spec}}
	for _, o := range c.options {
		desc = append(desc, o)
	}
	x.logDDL(&oplogEntry{op: "create", db: c.db, coll: c.name, uuid: c.uuid, opDesc: desc})
}

func (x *exec) logDrop(c *collection) {
	x.logDDL(&oplogEntry{op: "drop", db: c.db, coll: c.name, uuid: c.uuid})
}

func (x *exec) logDropDatabase(db string) {
	x.logDDL(&oplogEntry{op: "dropDatabase", db: db})
}

func (x *exec) logRename(c *collection, toDB, toColl string, dropped *collection) {
	desc := bson.D{{Key: "to", Value: bson.D{{Key: "db", Value: toDB}, {Key: "coll", Value: toColl}}}}
	if dropped != nil {
		desc = append(desc, bson.E{Key: "dropTarget", Value: dropped.uuid})
	}
	x.logDDL(&oplogEntry{op: "rename", db: c.db, coll: c.name, uuid: c.uuid, toDB: toDB, toColl: toColl, opDesc: desc})
}

// logIndexes records createIndexes or dropIndexes of the given indexes.
func (x *exec) logIndexes(c *collection, op string, ixs []*index) {
	if len(ixs) == 0 {
		x.touch()
		return
	}
	specs := make(bson.A, len(ixs))
	for i, ix := range ixs {
		specs[i] = ix.spec
	}
	x.logDDL(&oplogEntry{op: op, db: c.db, coll: c.name, uuid: c.uuid, opDesc: bson.D{{Key: "indexes", Value: specs}}})
}

// logModify records a collMod with the options it was given.
func (x *exec) logModify(c *collection) {
	desc := bson.D{}
	for _, e := range x.cmd[1:] {
		if !strings.HasPrefix(e.Key, "$") && !genericArgs[e.Key] {
			desc = append(desc, e)
		}
	}
	x.logDDL(&oplogEntry{op: "modify", db: c.db, coll: c.name, uuid: c.uuid, opDesc: desc})
}

var genericArgs = map[string]bool{"lsid": true, "txnNumber": true, "autocommit": true, "startTransaction": true,
	"writeConcern": true, "readConcern": true, "comment": true, "maxTimeMS": true, "apiVersion": true,
	"apiStrict": true, "apiDeprecationErrors": true}

// setPreAndPostImages applies collMod's changeStreamPreAndPostImages.
func (x *exec) setPreAndPostImages(c *collection, v any) error {
	d, ok := v.(bson.D)
	if !ok {
		return wrongType(x.name, "changeStreamPreAndPostImages", v, "object")
	}
	en, ok := value.Lookup(d, "enabled")
	if _, isBool := en.(bool); !ok || !isBool || len(d) != 1 {
		return mongoerr.New(40414, "BSON field 'changeStreamPreAndPostImages.enabled' is missing but a required field")
	}
	for i, o := range c.options {
		if o.Key == "changeStreamPreAndPostImages" {
			c.options[i].Value = d
			return nil
		}
	}
	c.options = append(c.options, bson.E{Key: "changeStreamPreAndPostImages", Value: d})
	return nil
}

// Resume tokens.

const (
	tokenHighWaterMark uint8 = 0
	tokenEvent         uint8 = 128
)

// csPos is a position in the oplog and the content of a resume token:
// cluster time, token type, position within the cluster time (a
// transaction's operation index) and whether it is an invalidate. A
// high-water mark at T sorts before every event at T, so resuming from it
// returns the events at T onwards (docs/change_streams.md, "Resume Tokens").
type csPos struct {
	ts    uint64
	typ   uint8
	idx   uint32
	inval bool
}

func (a csPos) cmp(b csPos) int {
	switch {
	case a.ts != b.ts:
		return cmpU(a.ts, b.ts)
	case a.typ != b.typ:
		return cmpU(uint64(a.typ), uint64(b.typ))
	case a.idx != b.idx:
		return cmpU(uint64(a.idx), uint64(b.idx))
	case a.inval != b.inval:
		if a.inval {
			return 1
		}
		return -1
	}
	return 0
}

func cmpU(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// tokenVersion leads every token, so a later layout can be told apart.
const tokenVersion = "01"

// token renders p as {_data: hex}: opaque to clients, and made of the
// cluster time rather than any counter of this process, so it means the
// same after a restart.
func (p csPos) token() bson.D {
	inval := 0
	if p.inval {
		inval = 1
	}
	return bson.D{{Key: "_data", Value: fmt.Sprintf("%s%016X%02X%08X%02X", tokenVersion, p.ts, p.typ, p.idx, inval)}}
}

func parseToken(v any) (csPos, error) {
	bad := func() (csPos, error) {
		return csPos{}, &mongoerr.Error{Code: 260, Name: "InvalidResumeToken", Msg: "invalid resume token"}
	}
	d, ok := v.(bson.D)
	if !ok {
		return bad()
	}
	data, _ := value.Lookup(d, "_data")
	s, ok := data.(string)
	if !ok || len(s) != 2+16+2+8+2 || !strings.HasPrefix(s, tokenVersion) {
		return bad()
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return bad()
	}
	var p csPos
	for _, c := range b[:8] {
		p.ts = p.ts<<8 | uint64(c)
	}
	p.typ = b[8]
	for _, c := range b[9:13] {
		p.idx = p.idx<<8 | uint32(c)
	}
	p.inval = b[13] == 1
	if p.typ != tokenEvent && p.typ != tokenHighWaterMark {
		return bad()
	}
	return p, nil
}

// sessionUID is the uid MongoDB puts in a logical session id: the SHA-256
// of the (here always empty) user name.
var sessionUID = func() bson.Binary {
	h := sha256.Sum256(nil)
	return bson.Binary{Data: h[:]}
}()
