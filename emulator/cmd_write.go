package emulator

import (
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/query"
	"github.com/mongogate/mongogate/emulator/internal/update"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// coll returns the collection as this command sees it: one created by an
// open transaction exists for that transaction only.
func (x *exec) coll(name string) *collection {
	c := x.s.store.collection(x.db, name)
	if c != nil && c.pending != nil && c.pending != x.txn {
		return nil
	}
	return c
}

// writeCollection returns the collection a write goes to, creating it as
// MongoDB does on first write. Inside a transaction the new collection is
// the transaction's until it commits; another transaction creating it
// meanwhile gets WriteConflict, a plain write waits for the outcome.
func (x *exec) writeCollection(name string) (*collection, error) {
	for {
		c, existed := x.s.store.createCollection(x.db, name, nil)
		if !existed {
			if x.txn != nil {
				c.pending = x.txn
				x.txn.created = append(x.txn.created, c)
			}
			x.logCreate(c)
			return c, nil
		}
		if c.pending == nil || c.pending == x.txn {
			return c, x.notOnView(c)
		}
		if x.txn != nil {
			return nil, writeConflict()
		}
		if err := x.view.wait(func() bool { return c.pending != nil && x.s.store.collection(x.db, name) == c }); err != nil {
			return nil, err
		}
	}
}

// writeError renders one failed statement of a write command.
func writeError(i int, err error) (bson.D, error) {
	e := mongoerr.As(err)
	if e == nil {
		return nil, err
	}
	we := bson.D{{Key: "index", Value: int32(i)}, {Key: "code", Value: e.Code}, {Key: "errmsg", Value: e.Msg}}
	for _, k := range sortedKeys(e.Info) {
		we = append(we, bson.E{Key: k, Value: e.Info[k]})
	}
	return we, nil
}

// statementFailed decides what a failed statement does to its command: a
// transient error inside a transaction fails the whole command (so the
// driver sees its TransientTransactionError label); anything else becomes a
// writeErrors entry.
func (x *exec) statementFailed(writeErrors *bson.A, i int, err error) error {
	e := mongoerr.As(err)
	if e == nil || e.Code == mongoerr.WriteConflict || e.Code == mongoerr.MaxTimeMSExpired {
		return err
	}
	we, err := writeError(i, err)
	if err != nil {
		return err
	}
	*writeErrors = append(*writeErrors, we)
	return nil
}

func writeReply(n int, writeErrors bson.A, extra ...bson.E) bson.D {
	r := bson.D{{Key: "n", Value: int32(n)}}
	r = append(r, extra...)
	if len(writeErrors) > 0 {
		r = append(r, bson.E{Key: "writeErrors", Value: writeErrors})
	}
	return append(r, bson.E{Key: "ok", Value: 1.0})
}

func (x *exec) ordered() bool {
	v, ok := value.Lookup(x.cmd, "ordered")
	return !ok || value.Truthy(v)
}

func (x *exec) insert() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	docs, err := x.docsArg("documents")
	if err != nil {
		return nil, err
	}
	c, err := x.writeCollection(name)
	if err != nil {
		return nil, err
	}
	ordered := x.ordered()
	// An insert command commits all its documents at once, so the
	// retryable-write fail point triggers once per command, and only if
	// something is left to insert.
	var fp txnWrite
	for i := range docs {
		if _, done := x.retry.done(i); !done {
			fp = x.statementCommit()
			break
		}
	}
	if fp.before != nil {
		return nil, fp.before
	}
	var writeErrors bson.A
	n := 0
	for i, doc := range docs {
		if _, done := x.retry.done(i); done {
			n++
			continue
		}
		if err := x.insertDoc(c, withID(doc)); err != nil {
			if err := x.statementFailed(&writeErrors, i, err); err != nil {
				return nil, err
			}
			if ordered {
				break
			}
			continue
		}
		x.retry.record(i, bson.D{})
		n++
	}
	if fp.after != nil {
		return nil, fp.after
	}
	return writeReply(n, writeErrors), nil
}

// withID returns doc with an _id first, generating an ObjectId if needed,
// as mongod does for documents that arrive without one.
func withID(doc bson.D) bson.D {
	for i, e := range doc {
		if e.Key == "_id" {
			if i == 0 {
				return doc
			}
			out := make(bson.D, 0, len(doc))
			out = append(out, e)
			out = append(out, doc[:i]...)
			return append(out, doc[i+1:]...)
		}
	}
	return append(bson.D{{Key: "_id", Value: bson.NewObjectID()}}, doc...)
}

// insertDoc inserts a document that has an _id.
func (x *exec) insertDoc(c *collection, doc bson.D) error {
	id, _ := value.Lookup(doc, "_id")
	if err := update.CheckID(id); err != nil {
		return err
	}
	key := value.Key(id)
	for {
		r := c.records[key]
		if r == nil {
			if err := x.checkUnique(c, nil, doc); err != nil {
				return err
			}
			r = c.newRecord(key)
		}
		if err := x.view.acquire(r); err != nil {
			return err
		}
		if r.gone {
			continue // the transaction that created it aborted while we waited
		}
		if d := x.view.doc(r); d != nil {
			return dupKey(c, c.indexes[0], bson.D{{Key: "_id", Value: id}})
		}
		if err := x.checkUnique(c, r, doc); err != nil {
			if len(r.versions) == 0 && r.owner == nil {
				c.removeRecord(r)
			}
			return err
		}
		if err := x.validateWrite(c, nil, doc); err != nil {
			if len(r.versions) == 0 && r.owner == nil {
				c.removeRecord(r)
			}
			return err
		}
		x.view.put(c, r, doc)
		return nil
	}
}

// replaceDoc writes a new version of an existing document.
func (x *exec) replaceDoc(c *collection, r *record, doc bson.D) error {
	if err := x.view.acquire(r); err != nil {
		return err
	}
	if err := x.validateWrite(c, x.view.doc(r), doc); err != nil {
		return err
	}
	if err := x.checkUnique(c, r, doc); err != nil {
		return err
	}
	x.view.put(c, r, doc)
	return nil
}

func (x *exec) deleteDoc(c *collection, r *record) error {
	if err := x.view.acquire(r); err != nil {
		return err
	}
	x.view.put(c, r, nil)
	return nil
}

// checkUnique enforces the collection's unique secondary indexes for doc
// written to self (nil for a new document).
func (x *exec) checkUnique(c *collection, self *record, doc bson.D) error {
	for _, ix := range c.indexes[1:] {
		if !ix.unique {
			continue
		}
		key, indexed := ix.keyOf(doc)
		if !indexed {
			continue
		}
		var dup bool
		x.view.scan(c, func(r *record, d bson.D) bool {
			if r == self {
				return true
			}
			if k, ok := ix.keyOf(d); ok && value.EqualWith(k, key, collator(ix.collator)) {
				dup = true
				return false
			}
			return true
		})
		if dup {
			kv := make(bson.D, len(ix.key))
			for i, f := range ix.key {
				kv[i] = bson.E{Key: f.Key, Value: key[i]}
			}
			return dupKey(c, ix, kv)
		}
	}
	return nil
}

// keyOf extracts the index key of doc; indexed is false for a sparse index
// when doc has none of the key's fields.
func (ix *index) keyOf(doc bson.D) (bson.A, bool) {
	key := make(bson.A, len(ix.key))
	present := false
	for i, f := range ix.key {
		v, ok := value.Get(doc, f.Key)
		if ok {
			present = true
		} else {
			v = nil
		}
		key[i] = v
	}
	return key, present || !ix.sparse
}

func dupKey(c *collection, ix *index, keyValue bson.D) error {
	parts := make([]string, len(keyValue))
	for i, e := range keyValue {
		parts[i] = fmt.Sprintf("%s: %s", e.Key, shellString(e.Value))
	}
	e := mongoerr.New(mongoerr.DuplicateKey, "E11000 duplicate key error collection: %s.%s index: %s dup key: { %s }",
		c.db, c.name, ix.name, strings.Join(parts, ", "))
	e.Info = map[string]any{"keyPattern": ix.key, "keyValue": keyValue}
	return e
}

// shellString renders a value roughly as the mongo shell would, for messages.
func shellString(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "null"
	case bson.ObjectID:
		return fmt.Sprintf("ObjectId('%s')", x.Hex())
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, false, false)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	return strings.TrimSuffix(strings.TrimPrefix(s, `{"v":`), "}")
}

// hit is one document a filter matched.
type hit struct {
	r    *record
	doc  bson.D
	elem int // array position matched, for the positional operator
}

// match returns the documents of c that f matches, in natural order, at
// most limit of them (0: all). A filter with an _id equality at its top
// level uses the _id index.
func (x *exec) match(c *collection, f *query.Filter, limit int) ([]hit, error) {
	if c == nil {
		return nil, nil
	}
	if c.ext.view != nil {
		return x.matchView(c, f, limit)
	}
	if id, ok := f.IDValue(); ok {
		r, d := x.view.byID(c, id)
		if d == nil {
			return nil, nil
		}
		matched, elem, err := f.MatchElem(d)
		if err != nil || !matched {
			return nil, err
		}
		return []hit{{r: r, doc: d, elem: elem}}, nil
	}
	var hits []hit
	var ferr error
	x.view.scan(c, func(r *record, d bson.D) bool {
		matched, elem, err := f.MatchElem(d)
		if err != nil {
			ferr = err
			return false
		}
		if matched {
			hits = append(hits, hit{r: r, doc: d, elem: elem})
		}
		return limit == 0 || len(hits) < limit
	})
	return hits, ferr
}

// updateStatement is one entry of an update command, or a findAndModify.
type updateStatement struct {
	spec         bson.D // the statement as sent, for hint and collation
	filter       bson.D
	u            any
	arrayFilters []bson.D
	multi        bool
	upsert       bool
	sort         bson.D
}

type updateOutcome struct {
	matched, modified int
	upsertedID        any
	upserted          bool
	before, after     bson.D
}

func (x *exec) parseUpdateStatement(d bson.D) (updateStatement, error) {
	st := updateStatement{spec: d}
	var err error
	if st.filter, err = docField(d, x.name, "q"); err != nil {
		return st, err
	}
	u, ok := value.Lookup(d, "u")
	if !ok {
		return st, mongoerr.New(mongoerr.FailedToParse, "BSON field 'update.updates.u' is missing but a required field")
	}
	st.u = u
	st.multi = boolField(d, "multi")
	st.upsert = boolField(d, "upsert")
	if af, ok := value.Lookup(d, "arrayFilters"); ok && af != nil {
		arr, isArr := af.(bson.A)
		if !isArr {
			return st, wrongType(x.name, "arrayFilters", af, "array")
		}
		for _, e := range arr {
			doc, isDoc := e.(bson.D)
			if !isDoc {
				return st, wrongType(x.name, "arrayFilters", e, "object")
			}
			st.arrayFilters = append(st.arrayFilters, doc)
		}
	}
	return st, nil
}

// applyUpdate runs one update statement against c (which may be nil when
// the collection does not exist and nothing is upserted).
func (x *exec) applyUpdate(name string, st updateStatement, vars map[string]any) (updateOutcome, error) {
	var out updateOutcome
	c := x.coll(name)
	coll, err := opCollation(c, st.spec)
	if err != nil {
		return out, err
	}
	f, err := compileFilterColl(st.filter, vars, coll)
	if err != nil {
		return out, err
	}
	u, err := compileUpdate(st.u, st.arrayFilters, vars)
	if err != nil {
		return out, err
	}
	x.view.update = st.u
	if st.multi && u.IsReplacement() {
		return out, mongoerr.New(mongoerr.FailedToParse, "multi update is not supported for replacement-style update")
	}
	if err := x.notOnView(c); err != nil {
		return out, err
	}
	if err := checkHint(c, st.spec); err != nil {
		return out, err
	}
	limit := 1
	if st.multi || st.sort != nil {
		limit = 0
	}
	hits, err := x.match(c, f, limit)
	if err != nil {
		return out, err
	}
	if st.sort != nil && len(hits) > 1 {
		if hits, err = sortHits(hits, st.sort, coll); err != nil {
			return out, err
		}
		hits = hits[:1]
	}
	for _, h := range hits {
		doc, changed, err := u.Apply(h.doc, h.elem, false)
		if err != nil {
			return out, err
		}
		out.matched++
		out.before, out.after = h.doc, h.doc
		if !changed {
			continue
		}
		if err := x.replaceDoc(c, h.r, doc); err != nil {
			return out, err
		}
		out.modified++
		out.after = doc
	}
	if len(hits) > 0 || !st.upsert {
		return out, nil
	}
	seed, err := upsertSeed(st.filter, u.IsReplacement())
	if err != nil {
		return out, err
	}
	doc, _, err := u.Apply(seed, -1, true)
	if err != nil {
		return out, err
	}
	doc = withID(doc)
	wc, err := x.writeCollection(name)
	if err != nil {
		return out, err
	}
	if err := x.insertDoc(wc, doc); err != nil {
		return out, err
	}
	out.upserted = true
	out.upsertedID, _ = value.Lookup(doc, "_id")
	out.after = doc
	return out, nil
}

// upsertSeed is the document an upsert starts from: the filter's equality
// fields for an operator update, only its _id for a replacement (MongoDB's
// update_request / upsert seeding).
func upsertSeed(filter bson.D, replacement bool) (bson.D, error) {
	if !replacement {
		return update.UpsertSeed(filter)
	}
	if id, ok := value.Lookup(filter, "_id"); ok {
		if d, isDoc := id.(bson.D); !isDoc || len(d) == 0 || d[0].Key[0] != '$' {
			return bson.D{{Key: "_id", Value: id}}, nil
		}
		if eq, ok := value.Lookup(id.(bson.D), "$eq"); ok && len(id.(bson.D)) == 1 {
			return bson.D{{Key: "_id", Value: eq}}, nil
		}
	}
	return bson.D{}, nil
}

func sortHits(hits []hit, spec bson.D, coll *collation.Collator) ([]hit, error) {
	s, err := compileSortColl(spec, coll)
	if err != nil {
		return nil, err
	}
	sorted := slices.Clone(hits)
	sortHitsWith(sorted, s)
	return sorted, nil
}

func (x *exec) update() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	stmts, err := x.docsArg("updates")
	if err != nil {
		return nil, err
	}
	vars, err := x.letVars()
	if err != nil {
		return nil, err
	}
	for _, d := range stmts {
		if _, ok := value.Lookup(d, "sort"); ok {
			// MongoDB 8.0 added sort to update statements; 7.0's command
			// parser rejects the whole command.
			return nil, mongoerr.New(40415, "BSON field 'update.updates.sort' is an unknown field.")
		}
	}
	ordered := x.ordered()
	var writeErrors, upserted bson.A
	n, modified := 0, 0
	add := func(i int, r bson.D) {
		m, _ := value.Lookup(r, "n")
		k, _ := value.Lookup(r, "nModified")
		mi, _ := value.ToInt64(m)
		ki, _ := value.ToInt64(k)
		n += int(mi)
		modified += int(ki)
		if id, ok := value.Lookup(r, "upserted"); ok {
			upserted = append(upserted, bson.D{{Key: "index", Value: int32(i)}, {Key: "_id", Value: id}})
		}
	}
	for i, d := range stmts {
		if r, done := x.retry.done(i); done {
			add(i, r)
			continue
		}
		fp := x.statementCommit()
		if fp.before != nil {
			return nil, fp.before
		}
		st, err := x.parseUpdateStatement(d)
		var out updateOutcome
		if err == nil {
			out, err = x.applyUpdate(name, st, vars)
		}
		if err != nil {
			if err := x.statementFailed(&writeErrors, i, err); err != nil {
				return nil, err
			}
			if ordered {
				break
			}
			continue
		}
		r := bson.D{{Key: "n", Value: int32(out.matched)}, {Key: "nModified", Value: int32(out.modified)}}
		if out.upserted {
			r = bson.D{{Key: "n", Value: int32(1)}, {Key: "nModified", Value: int32(0)}, {Key: "upserted", Value: out.upsertedID}}
		}
		x.retry.record(i, r)
		add(i, r)
		if fp.after != nil {
			return nil, fp.after
		}
	}
	extra := []bson.E{{Key: "nModified", Value: int32(modified)}}
	if len(upserted) > 0 {
		extra = append(extra, bson.E{Key: "upserted", Value: upserted})
	}
	return writeReply(n, writeErrors, extra...), nil
}

func (x *exec) delete() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	stmts, err := x.docsArg("deletes")
	if err != nil {
		return nil, err
	}
	vars, err := x.letVars()
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	if err := x.notOnView(c); err != nil {
		return nil, err
	}
	ordered := x.ordered()
	var writeErrors bson.A
	n := 0
	for i, d := range stmts {
		if r, done := x.retry.done(i); done {
			k, _ := value.Lookup(r, "n")
			ki, _ := value.ToInt64(k)
			n += int(ki)
			continue
		}
		fp := x.statementCommit()
		if fp.before != nil {
			return nil, fp.before
		}
		deleted, err := x.deleteStatement(c, d, vars)
		n += deleted
		if err == nil {
			x.retry.record(i, bson.D{{Key: "n", Value: int32(deleted)}})
			if fp.after != nil {
				return nil, fp.after
			}
		}
		if err != nil {
			if err := x.statementFailed(&writeErrors, i, err); err != nil {
				return nil, err
			}
			if ordered {
				break
			}
		}
	}
	return writeReply(n, writeErrors), nil
}

func (x *exec) deleteStatement(c *collection, d bson.D, vars map[string]any) (int, error) {
	q, err := docField(d, x.name, "q")
	if err != nil {
		return 0, err
	}
	limit, hasLimit, err := intField(d, x.name, "limit")
	if err != nil {
		return 0, err
	}
	if !hasLimit {
		return 0, mongoerr.New(mongoerr.FailedToParse, "BSON field 'delete.deletes.limit' is missing but a required field")
	}
	if limit != 0 && limit != 1 {
		return 0, mongoerr.New(mongoerr.FailedToParse, "The limit field in delete objects must be 0 or 1. Got %d", limit)
	}
	if err := checkHint(c, d); err != nil {
		return 0, err
	}
	coll, err := opCollation(c, d)
	if err != nil {
		return 0, err
	}
	f, err := compileFilterColl(q, vars, coll)
	if err != nil {
		return 0, err
	}
	hits, err := x.match(c, f, int(limit))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, h := range hits {
		if err := x.deleteDoc(c, h.r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// findAndModify is one statement: a retry gets the first attempt's whole
// reply (dispatch returns retry.reply before calling here).
func (x *exec) findAndModify() (bson.D, error) {
	fp := x.statementCommit()
	if fp.before != nil {
		return nil, fp.before
	}
	reply, err := x.findAndModifyStatement()
	if err != nil {
		return nil, err
	}
	if x.retry != nil {
		x.retry.reply = reply
	}
	if fp.after != nil {
		return nil, fp.after
	}
	return reply, nil
}

func (x *exec) findAndModifyStatement() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	vars, err := x.letVars()
	if err != nil {
		return nil, err
	}
	a := x.args()
	q, sort, fields := a.doc("query"), a.doc("sort"), a.doc("fields")
	if a.err != nil {
		return nil, a.err
	}
	remove := x.boolArg("remove")
	u, hasUpdate := value.Lookup(x.cmd, "update")
	upsert := x.boolArg("upsert")
	returnNew := x.boolArg("new")
	switch {
	case remove && hasUpdate:
		return nil, mongoerr.New(mongoerr.FailedToParse, "Cannot specify both an update and remove=true")
	case !remove && !hasUpdate:
		return nil, mongoerr.New(mongoerr.FailedToParse, "Either an update or remove=true must be specified")
	case remove && (upsert || returnNew):
		return nil, mongoerr.New(mongoerr.FailedToParse, "Cannot specify both upsert=true and remove=true or new=true")
	}
	var proj *query.Projection
	if fields != nil {
		if proj, err = compileProjection(fields, vars); err != nil {
			return nil, err
		}
	}
	project := func(d bson.D, elem int) (any, error) {
		if d == nil {
			return nil, nil
		}
		if proj == nil {
			return d, nil
		}
		return proj.Apply(d, elem)
	}
	if remove {
		c := x.coll(name)
		if err := x.notOnView(c); err != nil {
			return nil, err
		}
		coll, err := opCollation(c, x.cmd)
		if err != nil {
			return nil, err
		}
		f, err := compileFilterColl(q, vars, coll)
		if err != nil {
			return nil, err
		}
		if err := checkHint(c, x.cmd); err != nil {
			return nil, err
		}
		hits, err := x.match(c, f, 0)
		if err != nil {
			return nil, err
		}
		if sort != nil && len(hits) > 1 {
			if hits, err = sortHits(hits, sort, coll); err != nil {
				return nil, err
			}
		}
		if len(hits) == 0 {
			return okReply(bson.E{Key: "lastErrorObject", Value: bson.D{{Key: "n", Value: int32(0)}}}, bson.E{Key: "value", Value: nil}), nil
		}
		if err := x.deleteDoc(c, hits[0].r); err != nil {
			return nil, err
		}
		v, err := project(hits[0].doc, hits[0].elem)
		if err != nil {
			return nil, err
		}
		return okReply(bson.E{Key: "lastErrorObject", Value: bson.D{{Key: "n", Value: int32(1)}}}, bson.E{Key: "value", Value: v}), nil
	}
	st := updateStatement{spec: x.cmd, filter: q, u: u, upsert: upsert, sort: sort}
	if af, ok := value.Lookup(x.cmd, "arrayFilters"); ok && af != nil {
		parsed, err := x.parseUpdateStatement(bson.D{{Key: "u", Value: u}, {Key: "arrayFilters", Value: af}})
		if err != nil {
			return nil, err
		}
		st.arrayFilters = parsed.arrayFilters
	}
	out, err := x.applyUpdate(name, st, vars)
	if err != nil {
		return nil, err
	}
	leo := bson.D{{Key: "n", Value: int32(out.matched)}, {Key: "updatedExisting", Value: out.matched > 0}}
	if out.upserted {
		leo = bson.D{{Key: "n", Value: int32(1)}, {Key: "updatedExisting", Value: false}, {Key: "upserted", Value: out.upsertedID}}
	}
	doc := out.before
	if returnNew {
		doc = out.after
	}
	v, err := project(doc, -1)
	if err != nil {
		return nil, err
	}
	return okReply(bson.E{Key: "lastErrorObject", Value: leo}, bson.E{Key: "value", Value: v}), nil
}
