package emulator

import (
	"context"
	"crypto/rand"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// historyWindow is how far back snapshot reads can go, like MongoDB's
// minSnapshotHistoryWindowInSeconds (default 300).
const historyWindow = 300

// store is the in-memory data: databases, collections and documents kept as
// version chains so that a transaction reads the snapshot it started from
// (multi-version concurrency control). Timestamps are cluster times packed as
// T<<32 | I, so a document version's timestamp is also the operationTime of
// the write that produced it.
//
// All fields are guarded by mu. Writers hold mu exclusively; a writer that
// must wait for another transaction's document lock waits on cond, which
// releases mu meanwhile.
type store struct {
	mu   sync.RWMutex
	cond *sync.Cond
	dbs  map[string]*database
	last uint64 // newest cluster time handed out
	// open transactions, for the oldest snapshot still readable
	open map[*transaction]struct{}
	// closed is set by Server.Close so writers waiting for a lock give up.
	closed bool
	// changes is the oplog change streams read.
	changes *oplog
}

type database struct {
	name  string
	colls map[string]*collection
}

type collection struct {
	db, name string
	uuid     bson.Binary
	options  bson.D
	// pending is the open transaction that created the collection; until
	// it commits, the collection exists for that transaction only.
	pending *transaction
	records map[string]*record // by value.Key(_id)
	order   []*record          // insertion order: the natural order of a scan
	dead    int                // records in order that no longer exist
	indexes []*index
	ext     collExt // default collation, validator, view definition
}

type index struct {
	name   string
	key    bson.D
	unique bool
	sparse bool
	// isTTL is set for a TTL index, whose documents expire expireAfter
	// seconds after the date in the indexed field.
	isTTL       bool
	expireAfter int32
	collator    *collation.Collator // nil: simple
	spec        bson.D              // as listIndexes reports it
}

// record is one _id's history.
type record struct {
	key      string
	versions []version    // oldest first
	owner    *transaction // holds the document's write lock until it ends
	gone     bool         // dropped from its collection
}

type version struct {
	ts  uint64
	doc bson.D // nil: deleted
}

func newStore() *store {
	st := &store{dbs: map[string]*database{}, open: map[*transaction]struct{}{}}
	st.cond = sync.NewCond(&st.mu)
	st.changes = newOplog(st.tick())
	return st
}

// tick hands out the next cluster time. Callers hold mu exclusively.
func (st *store) tick() uint64 {
	now := uint64(time.Now().Unix()) << 32
	if now > st.last {
		st.last = now | 1
	} else {
		st.last++
	}
	return st.last
}

func timestamp(ts uint64) bson.Timestamp {
	return bson.Timestamp{T: uint32(ts >> 32), I: uint32(ts)}
}

func fromTimestamp(t bson.Timestamp) uint64 { return uint64(t.T)<<32 | uint64(t.I) }

// horizon is the oldest timestamp any reader may still ask for.
func (st *store) horizon() uint64 {
	h := st.last - historyWindow<<32
	for t := range st.open {
		if t.snapshot != 0 && t.snapshot < h {
			h = t.snapshot
		}
	}
	return h
}

func (st *store) collection(db, name string) *collection {
	d := st.dbs[db]
	if d == nil {
		return nil
	}
	return d.colls[name]
}

// createCollection makes db.name, or returns the existing one with exists set.
func (st *store) createCollection(db, name string, options bson.D) (c *collection, exists bool) {
	d := st.dbs[db]
	if d == nil {
		d = &database{name: db, colls: map[string]*collection{}}
		st.dbs[db] = d
	}
	if c := d.colls[name]; c != nil {
		return c, true
	}
	c = &collection{
		db: db, name: name, options: options,
		uuid:    bson.Binary{Subtype: bson.TypeBinaryUUID, Data: newUUID()},
		records: map[string]*record{},
		indexes: []*index{{name: "_id_", key: bson.D{{Key: "_id", Value: int32(1)}}, unique: true,
			spec: bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}},
	}
	d.colls[name] = c
	return c, false
}

// dropCollection removes db.name; transactions holding its documents keep
// their references but their writes vanish with it.
func (st *store) dropCollection(db, name string) bool {
	d := st.dbs[db]
	if d == nil || d.colls[name] == nil {
		return false
	}
	for _, r := range d.colls[name].order {
		r.gone = true
	}
	delete(d.colls, name)
	if len(d.colls) == 0 {
		delete(st.dbs, db)
	}
	st.cond.Broadcast()
	return true
}

func (st *store) databaseNames() []string {
	names := make([]string, 0, len(st.dbs))
	for n := range st.dbs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (d *database) collectionNames() []string {
	names := make([]string, 0, len(d.colls))
	for n := range d.colls {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (r *record) at(ts uint64) bson.D {
	for i := len(r.versions) - 1; i >= 0; i-- {
		if r.versions[i].ts <= ts {
			return r.versions[i].doc
		}
	}
	return nil
}

func (r *record) latestTS() uint64 {
	if len(r.versions) == 0 {
		return 0
	}
	return r.versions[len(r.versions)-1].ts
}

// appendVersion records a committed write and forgets versions no reader can
// still see.
func (c *collection) appendVersion(r *record, ts uint64, doc bson.D, horizon uint64) {
	wasLive := len(r.versions) > 0 && r.versions[len(r.versions)-1].doc != nil
	r.versions = append(r.versions, version{ts: ts, doc: doc})
	keep := 0
	for i := len(r.versions) - 1; i > 0; i-- {
		if r.versions[i].ts <= horizon {
			keep = i
			break
		}
	}
	if keep > 0 {
		r.versions = append([]version(nil), r.versions[keep:]...)
	}
	if wasLive && doc == nil {
		c.dead++
		c.maybeCompact(horizon)
	}
}

// maybeCompact drops records deleted before the horizon once they make up
// most of the scan order, so scans cost what exists, not what once existed.
func (c *collection) maybeCompact(horizon uint64) {
	if c.dead < 1024 || c.dead < len(c.order)/2 {
		return
	}
	kept := c.order[:0]
	dead := 0
	for _, r := range c.order {
		if r.owner == nil && len(r.versions) == 1 && r.versions[0].doc == nil && r.versions[0].ts <= horizon {
			delete(c.records, r.key)
			r.gone = true
			continue
		}
		if d := len(r.versions); d > 0 && r.versions[d-1].doc == nil {
			dead++
		}
		kept = append(kept, r)
	}
	clear(c.order[len(kept):])
	c.order = kept
	c.dead = dead
}

// removeRecord forgets a record that never had a committed version (an
// insert whose transaction aborted).
func (c *collection) removeRecord(r *record) {
	if c.records[r.key] == r {
		delete(c.records, r.key)
	}
	r.gone = true
	for i, x := range c.order {
		if x == r {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// view is what one command reads and writes: the committed data as of ts,
// plus, inside a transaction, the transaction's own uncommitted writes.
type view struct {
	st  *store
	ctx context.Context
	ts  uint64       // read timestamp
	txn *transaction // nil outside a transaction
	// writeTS is the timestamp of this command's writes outside a
	// transaction, taken on first write.
	writeTS uint64
	// pinned is set for reads at a fixed time (a transaction's snapshot or
	// a snapshot read); otherwise the view reads the newest data, which a
	// writer that waited for a lock needs.
	pinned bool
	// update is the update statement being applied (its u), which tells
	// change streams an update from a replacement.
	update any
}

func (v *view) doc(r *record) bson.D {
	if v.txn != nil {
		if w, ok := v.txn.pending[r]; ok {
			return w.doc
		}
	}
	if !v.pinned {
		if n := len(r.versions); n > 0 {
			return r.versions[n-1].doc
		}
		return nil
	}
	return r.at(v.ts)
}

// scan calls fn for every visible document of c in natural order until fn
// returns false. The documents are shared with the store: never mutate them.
func (v *view) scan(c *collection, fn func(r *record, d bson.D) bool) {
	if c == nil {
		return
	}
	for _, r := range c.order {
		if r.gone {
			continue
		}
		if d := v.doc(r); d != nil {
			if !fn(r, d) {
				return
			}
		}
	}
}

// docs returns every visible document of c in natural order.
func (v *view) docs(c *collection) []bson.D {
	var out []bson.D
	v.scan(c, func(_ *record, d bson.D) bool {
		out = append(out, d)
		return true
	})
	return out
}

// byID returns the record for an _id and its visible document (nil if none).
func (v *view) byID(c *collection, id any) (*record, bson.D) {
	if c == nil {
		return nil, nil
	}
	r := c.records[value.Key(id)]
	if r == nil {
		return nil, nil
	}
	return r, v.doc(r)
}

func writeConflict() error {
	return mongoerr.New(mongoerr.WriteConflict, "Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.")
}

// acquire takes r's write lock for this view's writer. A transaction that
// finds the document locked by another transaction, or changed since its
// snapshot, gets WriteConflict (first writer wins, as in MongoDB). A write
// outside a transaction waits until the lock is released, as MongoDB's write
// conflict retry loop does, bounded by the command's deadline.
func (v *view) acquire(r *record) error {
	if v.txn != nil {
		if r.owner != nil && r.owner != v.txn {
			return writeConflict()
		}
		if r.latestTS() > v.txn.snapshot {
			return writeConflict()
		}
		if r.owner == nil {
			r.owner = v.txn
			v.txn.locked = append(v.txn.locked, r)
		}
		return nil
	}
	return v.wait(func() bool { return r.owner != nil })
}

// wait blocks a writer outside a transaction while blocked() holds,
// releasing the store lock meanwhile, bounded by the command's deadline,
// a kill of its session and server shutdown.
func (v *view) wait(blocked func() bool) error {
	if !blocked() {
		return nil
	}
	stop := context.AfterFunc(v.ctx, func() {
		v.st.mu.Lock()
		v.st.cond.Broadcast()
		v.st.mu.Unlock()
	})
	defer stop()
	for blocked() {
		if v.st.closed {
			return mongoerr.New(mongoerr.ShutdownInProgress, "The server is shutting down")
		}
		if err := v.ctx.Err(); err != nil {
			if me := mongoerr.As(context.Cause(v.ctx)); me != nil {
				return me // the session was killed
			}
			return mongoerr.New(mongoerr.MaxTimeMSExpired, "operation exceeded time limit")
		}
		v.st.cond.Wait()
	}
	return nil
}

// put writes doc (nil: delete) to r, which the caller has acquired.
func (v *view) put(c *collection, r *record, doc bson.D) {
	defer v.st.changes.logWrite(v, c, r, v.doc(r), doc)
	if v.txn != nil {
		if _, ok := v.txn.pending[r]; !ok {
			v.txn.order = append(v.txn.order, pendingRef{coll: c, rec: r})
		}
		v.txn.pending[r] = pendingWrite{doc: doc}
		return
	}
	if v.writeTS == 0 {
		v.writeTS = v.st.tick()
		v.ts = v.writeTS
	}
	c.appendVersion(r, v.writeTS, doc, v.st.horizon())
}

// newRecord returns the record for key, creating it (without versions) if
// the collection has none.
func (c *collection) newRecord(key string) *record {
	if r := c.records[key]; r != nil {
		return r
	}
	r := &record{key: key}
	c.records[key] = r
	c.order = append(c.order, r)
	return r
}

// newUUID returns a random (version 4) UUID.
func newUUID() []byte {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}
