package emulator

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/query"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// defaultFirstBatch is MongoDB's default first batch size for find and
// aggregate.
const defaultFirstBatch = 101

// cursorReply returns the first batch and keeps the rest for getMore.
// batchSize 0 means the default; singleBatch closes the cursor regardless.
func (x *exec) cursorReply(coll string, docs []bson.D, batchSize int64, singleBatch bool) bson.D {
	n := int64(defaultFirstBatch)
	if batchSize > 0 {
		n = batchSize
	}
	if hasBatchSize(x) && batchSize == 0 {
		n = 0
	}
	var id int64
	first := docs
	if int64(len(docs)) > n && !singleBatch {
		first = docs[:n]
		c := &cursor{ns: x.ns(coll), docs: docs[n:], txn: x.txn}
		if x.sess != nil {
			c.lsid = x.sess.id
		}
		id = x.s.cursors.add(c)
	} else if int64(len(docs)) > n {
		first = docs[:n]
	}
	return x.cursorDoc(coll, "firstBatch", first, id)
}

func hasBatchSize(x *exec) bool {
	cur, _ := value.Lookup(x.cmd, "cursor")
	_, ok := value.Lookup(value.AsDoc(cur), "batchSize")
	if x.name == "find" {
		_, ok = value.Lookup(x.cmd, "batchSize")
	}
	return ok
}

func (x *exec) cursorDoc(coll, batchField string, batch []bson.D, id int64) bson.D {
	arr := make(bson.A, len(batch))
	for i, d := range batch {
		arr[i] = d
	}
	cur := bson.D{{Key: batchField, Value: arr}, {Key: "id", Value: id}, {Key: "ns", Value: x.ns(coll)}}
	if x.atClusterTime != 0 {
		cur = append(cur, bson.E{Key: "atClusterTime", Value: timestamp(x.atClusterTime)})
	}
	return okReply(bson.E{Key: "cursor", Value: cur})
}

func (x *exec) find() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	vars, err := x.letVars()
	if err != nil {
		return nil, err
	}
	a := x.args()
	filter, sortSpec, projSpec := a.doc("filter"), a.doc("sort"), a.doc("projection")
	skip, limit, batchSize := a.int("skip"), a.int("limit"), a.int("batchSize")
	if a.err != nil {
		return nil, a.err
	}
	switch {
	case skip < 0:
		return nil, mongoerr.New(51024, "BSON field 'skip' value must be >= 0, actual value '%d'", skip)
	case limit < 0:
		return nil, mongoerr.New(51024, "BSON field 'limit' value must be >= 0, actual value '%d'", limit)
	case batchSize < 0:
		return nil, mongoerr.New(51024, "BSON field 'batchSize' value must be >= 0, actual value '%d'", batchSize)
	}
	for _, unsupported := range []string{"min", "max", "tailable", "awaitData"} {
		if x.boolArg(unsupported) {
			return nil, mongoerr.New(mongoerr.NotImplemented, "the emulator does not support find option '%s'", unsupported)
		}
	}
	c := x.coll(name)
	coll, err := opCollation(c, x.cmd)
	if err != nil {
		return nil, err
	}
	f, err := compileFilterColl(filter, vars, coll)
	if err != nil {
		return nil, err
	}
	var sorter *query.Sort
	if len(sortSpec) > 0 {
		if sorter, err = compileSortColl(sortSpec, coll); err != nil {
			return nil, err
		}
	}
	var proj *query.Projection
	if len(projSpec) > 0 {
		if proj, err = compileProjection(projSpec, vars); err != nil {
			return nil, err
		}
	}
	if err := checkHint(c, x.cmd); err != nil {
		return nil, err
	}
	scanLimit := 0
	if sorter == nil && limit > 0 {
		scanLimit = int(skip + limit)
	}
	hits, err := x.match(c, f, scanLimit)
	if err != nil {
		return nil, err
	}
	if sorter != nil {
		sortHitsWith(hits, sorter)
	}
	if skip > 0 {
		hits = hits[min(int(skip), len(hits)):]
	}
	if limit > 0 && int64(len(hits)) > limit {
		hits = hits[:limit]
	}
	docs := make([]bson.D, len(hits))
	for i, h := range hits {
		docs[i] = h.doc
		if proj != nil {
			if docs[i], err = proj.Apply(h.doc, h.elem); err != nil {
				return nil, err
			}
		}
	}
	single := x.boolArg("singleBatch") || (limit > 0 && batchSize >= limit)
	return x.cursorReply(name, docs, batchSize, single), nil
}

func sortHitsWith(hits []hit, s *query.Sort) {
	slices.SortStableFunc(hits, func(a, b hit) int { return s.Compare(a.doc, b.doc) })
}

func (x *exec) getMore() (bson.D, error) {
	idV := x.cmd[0].Value
	id, ok := idV.(int64)
	if !ok {
		return nil, wrongType(x.name, "getMore", idV, "long")
	}
	collV, _ := value.Lookup(x.cmd, "collection")
	coll, _ := collV.(string)
	batchSize, _, err := x.intArg("batchSize")
	if err != nil {
		return nil, err
	}
	c := x.s.cursors.take(id)
	if c == nil {
		return nil, mongoerr.New(mongoerr.CursorNotFound, "cursor id %d not found", id)
	}
	if c.ns != x.ns(coll) {
		x.s.cursors.put(c)
		return nil, mongoerr.New(mongoerr.Unauthorized, "Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", x.ns(coll), c.ns)
	}
	var lsid string
	if x.sess != nil {
		lsid = x.sess.id
	}
	if c.lsid != lsid {
		x.s.cursors.put(c)
		return nil, mongoerr.New(50737, "Cannot run getMore on cursor %d, which was created in session %s, in session %s", id, c.lsid, lsid)
	}
	if c.cs != nil {
		return x.changeStreamGetMore(c, batchSize)
	}
	batch := c.docs
	if batchSize > 0 && int64(len(batch)) > batchSize {
		batch = batch[:batchSize]
		c.docs = c.docs[batchSize:]
		x.s.cursors.put(c)
	} else {
		id = 0
	}
	return x.cursorDoc(strings.TrimPrefix(c.ns, x.db+"."), "nextBatch", batch, id), nil
}

func (x *exec) killCursors() (bson.D, error) {
	ids, _ := value.Lookup(x.cmd, "cursors")
	arr, ok := ids.(bson.A)
	if !ok {
		return nil, wrongType(x.name, "cursors", ids, "array")
	}
	var killed, notFound bson.A
	for _, v := range arr {
		id, _ := v.(int64)
		if x.s.cursors.take(id) != nil {
			killed = append(killed, id)
		} else {
			notFound = append(notFound, id)
		}
	}
	return okReply(
		bson.E{Key: "cursorsKilled", Value: orEmpty(killed)},
		bson.E{Key: "cursorsNotFound", Value: orEmpty(notFound)},
		bson.E{Key: "cursorsAlive", Value: bson.A{}},
		bson.E{Key: "cursorsUnknown", Value: bson.A{}},
	), nil
}

func orEmpty(a bson.A) bson.A {
	if a == nil {
		return bson.A{}
	}
	return a
}

func (x *exec) aggEnv(vars map[string]any) agg.Env {
	return agg.Env{
		Collection: func(name string) ([]bson.D, error) {
			return x.sourceDocs(x.coll(name))
		},
		Vars:          vars,
		Match:         matcher,
		LocalSessions: x.localSessions,
	}
}

// localSessions lists the sessions this server knows, for
// $listLocalSessions. Without authentication every session is "local".
func (x *exec) localSessions(bson.D) ([]bson.D, error) {
	t := &x.s.sessions
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []bson.D
	for _, s := range t.m {
		out = append(out, bson.D{
			{Key: "_id", Value: bson.D{{Key: "id", Value: s.lsid}}},
			{Key: "lastUse", Value: bson.NewDateTimeFromTime(s.lastUse)},
		})
	}
	return out, nil
}

func (x *exec) aggregate() (bson.D, error) {
	var name string
	switch v := x.cmd[0].Value.(type) {
	case string:
		name = v
	default:
		if n, ok := value.ToInt64(v); !ok || n != 1 {
			return nil, mongoerr.New(mongoerr.FailedToParse, "Invalid aggregate namespace specified")
		}
	}
	pipeV, _ := value.Lookup(x.cmd, "pipeline")
	pipeline, ok := pipeV.(bson.A)
	if !ok {
		return nil, wrongType(x.name, "pipeline", pipeV, "array")
	}
	if isChangeStream(pipeline) {
		return x.openChangeStream(name, pipeline)
	}
	curOpt, hasCursor := value.Lookup(x.cmd, "cursor")
	if x.boolArg("explain") {
		return x.explainAggregate(name, pipeline, x.cmd, "queryPlanner")
	}
	if !hasCursor {
		return nil, mongoerr.New(mongoerr.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
	}
	batchSize, _, err := intField(value.AsDoc(curOpt), x.name, "batchSize")
	if err != nil {
		return nil, err
	}
	vars, err := x.letVars()
	if err != nil {
		return nil, err
	}
	if err := checkHint(x.coll(name), x.cmd); err != nil {
		return nil, err
	}
	coll, err := opCollation(x.coll(name), x.cmd)
	if err != nil {
		return nil, err
	}
	src, pipeline, err := x.shellSource(name, pipeline)
	if err != nil {
		return nil, err
	}
	p, err := agg.Compile(pipeline, x.aggEnvColl(vars, coll))
	if err != nil {
		return nil, err
	}
	if p.Output != nil {
		if rc, ok := value.Lookup(x.cmd, "readConcern"); ok {
			if lvl, _ := value.Lookup(value.AsDoc(rc), "level"); lvl == "linearizable" {
				return nil, mongoerr.New(mongoerr.InvalidOptions, "%s cannot be used with a 'linearizable' read concern level", p.Output.Stage)
			}
		}
	}
	if p.Output != nil && x.txn != nil {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "%s cannot be used in a transaction", p.Output.Stage)
	}
	in := src
	if src == nil && name != "" {
		if in, err = x.sourceDocs(x.coll(name)); err != nil {
			return nil, err
		}
	}
	out, err := p.Run(in)
	if err != nil {
		return nil, err
	}
	if p.Output != nil {
		if err := x.writeOutput(p.Output, out); err != nil {
			return nil, err
		}
		out = nil
	}
	if name == "" {
		name = "$cmd.aggregate"
	}
	return x.cursorReply(name, out, batchSize, false), nil
}

func (x *exec) count() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	a := x.args()
	q, skip, limit := a.doc("query"), a.int("skip"), a.int("limit")
	if a.err != nil {
		return nil, a.err
	}
	c := x.coll(name)
	coll, err := opCollation(c, x.cmd)
	if err != nil {
		return nil, err
	}
	f, err := compileFilterColl(q, nil, coll)
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
	n := int64(len(hits)) - max(skip, 0)
	if limit < 0 {
		limit = -limit
	}
	if limit > 0 && n > limit {
		n = limit
	}
	return okReply(bson.E{Key: "n", Value: int32(max(n, 0))}), nil
}

func (x *exec) distinct() (bson.D, error) {
	name, err := x.collName()
	if err != nil {
		return nil, err
	}
	keyV, _ := value.Lookup(x.cmd, "key")
	key, ok := keyV.(string)
	if !ok {
		return nil, wrongType(x.name, "key", keyV, "string")
	}
	q, err := x.docArg("query")
	if err != nil {
		return nil, err
	}
	c := x.coll(name)
	coll, err := opCollation(c, x.cmd)
	if err != nil {
		return nil, err
	}
	f, err := compileFilterColl(q, nil, coll)
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
	seen := map[string]bool{}
	values := bson.A{}
	for _, h := range hits {
		for _, v := range pathValues(h.doc, strings.Split(key, ".")) {
			// Values equal under the collation are one distinct value,
			// reported as first seen.
			k := value.KeyWith(v, collator(coll))
			if !seen[k] {
				seen[k] = true
				values = append(values, v)
			}
		}
	}
	r := okReply(bson.E{Key: "values", Value: values})
	if x.atClusterTime != 0 {
		r = append(bson.D{{Key: "atClusterTime", Value: timestamp(x.atClusterTime)}}, r...)
	}
	return r, nil
}

// pathValues collects the values at a dotted path the way distinct does:
// arrays on the way are traversed, and an array at the end contributes its
// elements.
func pathValues(v any, path []string) []any {
	if len(path) == 0 {
		if arr, ok := v.(bson.A); ok {
			return append([]any(nil), arr...)
		}
		return []any{v}
	}
	switch x := v.(type) {
	case bson.D:
		next, ok := value.Lookup(x, path[0])
		if !ok {
			return nil
		}
		return pathValues(next, path[1:])
	case bson.A:
		var out []any
		for _, e := range x {
			if _, isDoc := e.(bson.D); isDoc {
				out = append(out, pathValues(e, path)...)
			}
		}
		return out
	}
	return nil
}
