// Package update is MongoDB's update language over bson.D: operator updates
// ($set, $inc, $push, … with dotted, positional and array-filter paths),
// whole-document replacements and aggregation-pipeline updates, plus the
// seed document an upsert starts from.
//
// It follows the server's own design (src/mongo/db/update): an operator
// update is compiled once into a tree with one node per path component, in
// which conflicting paths are rejected, and applying it walks the tree with
// each level's fields in sorted order. That order is what decides where new
// fields land and which error a bad update reports, so it is kept exactly.
//
// Errors are *mongoerr.Error values carrying MongoDB's codes.
package update

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Options carries what the update language needs from the rest of the
// emulator, which would otherwise be an import cycle.
type Options struct {
	// Match compiles a query filter into a predicate over a document. It
	// serves $pull conditions and arrayFilters; this package does the
	// wrapping MongoDB does around the value being tested.
	Match func(filter bson.D) (func(doc bson.D) (bool, error), error)
	// Pipeline runs an aggregation-pipeline update (stages $set/$addFields,
	// $unset, $project, $replaceRoot/$replaceWith) over one document.
	Pipeline func(stages bson.A, doc bson.D, vars map[string]any) (bson.D, error)
	// Vars are the `let` variables for pipeline updates.
	Vars map[string]any
	// Now is the clock for $currentDate and zero timestamps in
	// replacements; nil means time.Now.
	Now func() time.Time
}

type kind int

const (
	operatorUpdate kind = iota
	replacementUpdate
	pipelineUpdate
)

// Update is a compiled update, safe to apply to any number of documents.
type Update struct {
	kind        kind
	root        *objectNode // operator updates
	positional  bool
	replacement bson.D // replacement updates
	stages      bson.A // pipeline updates
	opts        Options
}

// pipelineStages are the stages MongoDB allows in an update pipeline.
var pipelineStages = map[string]bool{
	"$addFields": true, "$set": true, "$project": true, "$unset": true,
	"$replaceRoot": true, "$replaceWith": true, "$fill": true,
}

// Compile parses an update: a bson.D of $-operators, a bson.D replacement
// document, or a bson.A pipeline. As in MongoDB, a document is a
// replacement when its first field does not start with '$' (so {} replaces
// the whole document), and arrayFilters are checked before the update.
func Compile(u any, arrayFilters []bson.D, opts Options) (*Update, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var doc bson.D
	switch x := u.(type) {
	case bson.D:
		doc = x
	case bson.M:
		doc = value.AsDoc(x)
	case bson.A:
		return compilePipeline(x, arrayFilters, opts)
	case []any:
		return compilePipeline(bson.A(x), arrayFilters, opts)
	default:
		return nil, mongoerr.New(mongoerr.FailedToParse, "Update argument must be either an object or an array")
	}
	filters, err := compileArrayFilters(arrayFilters, opts)
	if err != nil {
		return nil, err
	}
	if len(doc) == 0 || !strings.HasPrefix(doc[0].Key, "$") {
		if len(filters) > 0 {
			return nil, mongoerr.New(mongoerr.FailedToParse, "arrayFilters may not be specified for replacement-style updates")
		}
		return &Update{kind: replacementUpdate, replacement: fillTimestamps(doc, opts.Now), opts: opts}, nil
	}
	c := &compiler{opts: opts, root: &objectNode{}, filters: filters, used: map[string]bool{}}
	for _, e := range doc {
		if err := c.operator(e); err != nil {
			return nil, err
		}
	}
	if err := c.checkFiltersUsed(doc); err != nil {
		return nil, err
	}
	c.root.finish()
	return &Update{kind: operatorUpdate, root: c.root, positional: c.positional, opts: opts}, nil
}

func compilePipeline(stages bson.A, arrayFilters []bson.D, opts Options) (*Update, error) {
	filters, err := compileArrayFilters(arrayFilters, opts)
	if err != nil {
		return nil, err
	}
	if len(filters) > 0 {
		return nil, mongoerr.New(mongoerr.FailedToParse, "arrayFilters may not be specified for pipeline-style updates")
	}
	for _, s := range stages {
		d, ok := value.Doc(s)
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "Each element of the 'pipeline' array must be an object")
		}
		if len(d) != 1 {
			return nil, mongoerr.New(40323, "A pipeline stage specification object must contain exactly one field.")
		}
		if !pipelineStages[d[0].Key] {
			return nil, mongoerr.New(mongoerr.InvalidOptions, "%s is not allowed to be used within an update", d[0].Key)
		}
	}
	if opts.Pipeline == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "pipeline-style updates are not supported")
	}
	return &Update{kind: pipelineUpdate, stages: stages, opts: opts}, nil
}

// IsReplacement reports whether u replaces whole documents.
func (u *Update) IsReplacement() bool { return u.kind == replacementUpdate }

// IsPipeline reports whether u is an aggregation-pipeline update.
func (u *Update) IsPipeline() bool { return u.kind == pipelineUpdate }

// Positional reports whether u uses the positional $ operator, and so needs
// the index of the array element the query matched.
func (u *Update) Positional() bool { return u.positional }

// Apply returns the updated copy of doc (doc itself is never mutated) and
// whether anything changed; an update that leaves every field as it was
// ($set to the current value, $pull of nothing) reports false, which is
// what the update command's nModified counts.
//
// elemIndex is the index of the array element the query matched, for the
// positional $ operator; -1 if none. inserting is true when doc is the seed
// of an upsert: $setOnInsert applies only then, and the checks MongoDB
// makes only of updates (top-level $-prefixed field names) are skipped;
// a replacement keeps only the seed's _id, as MongoDB seeds replacement
// upserts with nothing else. Updated documents have _id first; Apply never
// generates one, so an upserted document may still need it.
//
// A replacement is a no-op only when it is byte-for-byte the document, _id
// included: {x: 1} replacing {_id: 1, x: 1} counts as modified, as in
// MongoDB.
func (u *Update) Apply(doc bson.D, elemIndex int, inserting bool) (bson.D, bool, error) {
	switch u.kind {
	case replacementUpdate:
		return replace(doc, u.replacement, inserting, false)
	case pipelineUpdate:
		out, err := u.opts.Pipeline(u.stages, value.CloneDoc(doc), u.opts.Vars)
		if err != nil {
			return nil, false, err
		}
		return replace(doc, out, inserting, true)
	}
	root := newElem("", doc, nil)
	a := &applier{root: root, inserting: inserting, now: u.opts.Now}
	if elemIndex >= 0 {
		a.matched = strconv.Itoa(elemIndex)
	}
	if err := u.root.apply(a, root); err != nil {
		return nil, false, err
	}
	if !a.changed && !inserting {
		return value.CloneDoc(doc), false, nil
	}
	out := ensureIDFirst(root.doc())
	if inserting {
		if err := checkIDForStorage(out); err != nil {
			return nil, false, err
		}
	}
	return out, a.changed, nil
}

// replace applies a replacement (or a pipeline's output) to doc the way
// MongoDB's ObjectReplaceExecutor does: the original _id is kept when the
// new document has none, and must not change when it has one.
func replace(doc, repl bson.D, inserting, allowTopLevelDollar bool) (bson.D, bool, error) {
	if value.Identical(doc, repl) {
		return value.CloneDoc(doc), false, nil
	}
	out := make(bson.D, 0, len(repl)+1)
	if _, ok := value.Lookup(repl, "_id"); !ok {
		if id, ok := value.Lookup(doc, "_id"); ok {
			out = append(out, bson.E{Key: "_id", Value: value.Clone(id)})
		}
	}
	out = append(out, value.CloneDoc(repl)...)
	if !inserting {
		if err := checkForStorage(out, allowTopLevelDollar); err != nil {
			return nil, false, err
		}
	}
	newID, hasNew := value.Lookup(out, "_id")
	if _, isArray := newID.(bson.A); hasNew && isArray {
		return nil, false, mongoerr.New(mongoerr.NotSingleValueField,
			"After applying the update to the document, the (immutable) field '_id' was found to be an array or array descendant.")
	}
	if oldID, hasOld := value.Lookup(doc, "_id"); hasOld && hasNew && !value.Equal(oldID, newID) {
		return nil, false, mongoerr.New(mongoerr.ImmutableField,
			"After applying the update, the (immutable) field '_id' was found to have been altered to _id: %s", format(newID))
	}
	out = ensureIDFirst(out)
	if inserting {
		if err := checkIDForStorage(out); err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// timestampIncrement orders the timestamps this process hands out within a
// second, as the server's logical clock does.
var timestampIncrement atomic.Uint32

func newTimestamp(now func() time.Time) bson.Timestamp {
	return bson.Timestamp{T: uint32(now().Unix()), I: timestampIncrement.Add(1)}
}

// fillTimestamps copies a replacement document, giving top-level zero
// timestamps other than _id the current time, as MongoDB does.
func fillTimestamps(d bson.D, now func() time.Time) bson.D {
	out := value.CloneDoc(d)
	for i, e := range out {
		if ts, ok := e.Value.(bson.Timestamp); ok && e.Key != "_id" && ts.T == 0 && ts.I == 0 {
			out[i].Value = newTimestamp(now)
		}
	}
	return out
}
