package spec

import (
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/tag"
)

// argReader converts argument values and keeps the first problem, so that
// each option in an operation's switch stays one line. The spec requires an
// error for arguments the runner does not know; unknown() records that.
type argReader struct {
	what string // operation or structure name, for messages
	err  error
}

func (a *argReader) fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf("%s: %s", a.what, fmt.Sprintf(format, args...))
	}
}

func (a *argReader) unknown(key string) { a.fail("unsupported argument %q", key) }

// need records a missing required argument.
func (a *argReader) need(key string, present bool) {
	if !present {
		a.fail("missing required argument %q", key)
	}
}

// check records an error returned while applying an argument.
func (a *argReader) check(err error) {
	if err != nil {
		a.fail("%v", err)
	}
}

func (a *argReader) doc(v bson.RawValue) bson.Raw {
	d, ok := v.DocumentOK()
	if !ok {
		a.fail("expected a document, got %s %s", v.Type, v)
	}
	return d
}

func (a *argReader) str(v bson.RawValue) string {
	s, ok := v.StringValueOK()
	if !ok {
		a.fail("expected a string, got %s %s", v.Type, v)
	}
	return s
}

func (a *argReader) bool(v bson.RawValue) bool {
	b, ok := v.BooleanOK()
	if !ok {
		a.fail("expected a boolean, got %s %s", v.Type, v)
	}
	return b
}

// int64 accepts any integral number, since relaxed Extended JSON yields
// int32 for small values and int64 for large ones.
func (a *argReader) int64(v bson.RawValue) int64 {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64:
		return v.AsInt64()
	case bson.TypeDouble:
		if f := v.Double(); f == float64(int64(f)) {
			return int64(f)
		}
	}
	a.fail("expected an integer, got %s %s", v.Type, v)
	return 0
}

func (a *argReader) int32(v bson.RawValue) int32 { return int32(a.int64(v)) }

// docs reads an array of documents.
func (a *argReader) docs(v bson.RawValue) []bson.Raw {
	arr, ok := v.ArrayOK()
	if !ok {
		a.fail("expected an array of documents, got %s %s", v.Type, v)
		return nil
	}
	vals, _ := arr.Values()
	out := make([]bson.Raw, 0, len(vals))
	for _, e := range vals {
		out = append(out, a.doc(e))
	}
	return out
}

// anyDocs reads an array of documents as []any, the type the driver's
// arrayFilters options want.
func (a *argReader) anyDocs(v bson.RawValue) []any {
	docs := a.docs(v)
	out := make([]any, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out
}

// hint accepts an index name or an index key document.
func (a *argReader) hint(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeEmbeddedDocument:
		return v.Document()
	}
	a.fail("hint must be a string or a document, got %s", v)
	return nil
}

// update accepts an update document or an aggregation pipeline.
func (a *argReader) update(v bson.RawValue) any {
	if v.Type == bson.TypeArray {
		return a.docs(v)
	}
	return a.doc(v)
}

func (a *argReader) collation(v bson.RawValue) *options.Collation {
	var c options.Collation
	sub := argReader{what: a.what + " collation"}
	for _, e := range elements(sub.doc(v)) {
		ev := e.Value()
		switch e.Key() {
		case "locale":
			c.Locale = sub.str(ev)
		case "caseLevel":
			c.CaseLevel = sub.bool(ev)
		case "caseFirst":
			c.CaseFirst = sub.str(ev)
		case "strength":
			c.Strength = int(sub.int64(ev))
		case "numericOrdering":
			c.NumericOrdering = sub.bool(ev)
		case "alternate":
			c.Alternate = sub.str(ev)
		case "maxVariable":
			c.MaxVariable = sub.str(ev)
		case "normalization":
			c.Normalization = sub.bool(ev)
		case "backwards":
			c.Backwards = sub.bool(ev)
		default:
			sub.unknown(e.Key())
		}
	}
	a.check(sub.err)
	return &c
}

func (a *argReader) readConcern(v bson.RawValue) *readconcern.ReadConcern {
	rc := &readconcern.ReadConcern{}
	sub := argReader{what: a.what + " readConcern"}
	for _, e := range elements(sub.doc(v)) {
		switch e.Key() {
		case "level":
			rc.Level = sub.str(e.Value())
		default:
			sub.unknown(e.Key())
		}
	}
	a.check(sub.err)
	return rc
}

func (a *argReader) writeConcern(v bson.RawValue) *writeconcern.WriteConcern {
	wc := &writeconcern.WriteConcern{}
	sub := argReader{what: a.what + " writeConcern"}
	for _, e := range elements(sub.doc(v)) {
		ev := e.Value()
		switch e.Key() {
		case "w":
			if ev.Type == bson.TypeString {
				wc.W = ev.StringValue()
			} else {
				wc.W = int(sub.int64(ev))
			}
		case "journal":
			j := sub.bool(ev)
			wc.Journal = &j
		case "wtimeoutMS":
			// Driver v2 removed wtimeout in favour of client-side timeouts.
			sub.fail("wtimeoutMS is not supported by Go driver v2")
		default:
			sub.unknown(e.Key())
		}
	}
	a.check(sub.err)
	return wc
}

func (a *argReader) readPreference(v bson.RawValue) *readpref.ReadPref {
	sub := argReader{what: a.what + " readPreference"}
	var (
		mode    readpref.Mode
		popts   []readpref.Option
		hasMode bool
	)
	for _, e := range elements(sub.doc(v)) {
		ev := e.Value()
		switch e.Key() {
		case "mode":
			m, err := readpref.ModeFromString(sub.str(ev))
			sub.check(err)
			mode, hasMode = m, true
		case "maxStalenessSeconds":
			popts = append(popts, readpref.WithMaxStaleness(time.Duration(sub.int64(ev))*time.Second))
		case "tagSets":
			var sets []tag.Set
			for _, d := range sub.docs(ev) {
				var set tag.Set
				for _, t := range elements(d) {
					set = append(set, tag.Tag{Name: t.Key(), Value: sub.str(t.Value())})
				}
				sets = append(sets, set)
			}
			popts = append(popts, readpref.WithTagSets(sets...))
		default:
			sub.unknown(e.Key())
		}
	}
	sub.need("mode", hasMode)
	if sub.err != nil {
		a.check(sub.err)
		return nil
	}
	rp, err := readpref.New(mode, popts...)
	a.check(err)
	return rp
}

// transactionOptions reads startTransaction/withTransaction arguments and
// defaultTransactionOptions; skip names keys the caller handles itself.
func (a *argReader) transactionOptions(raw bson.Raw, skip ...string) *options.TransactionOptionsBuilder {
	opts := options.Transaction()
	for _, e := range elements(raw) {
		ev := e.Value()
		switch key := e.Key(); {
		case slices.Contains(skip, key):
		case key == "readConcern":
			opts.SetReadConcern(a.readConcern(ev))
		case key == "writeConcern":
			opts.SetWriteConcern(a.writeConcern(ev))
		case key == "readPreference":
			opts.SetReadPreference(a.readPreference(ev))
		case key == "maxCommitTimeMS":
			// Driver v2 dropped maxCommitTimeMS (deprecated by CSOT).
			a.fail("maxCommitTimeMS is not supported by Go driver v2")
		default:
			a.unknown(key)
		}
	}
	return opts
}

// elements lists a document's elements; a nil document has none.
func elements(doc bson.Raw) []bson.RawElement {
	if len(doc) == 0 {
		return nil
	}
	elems, _ := doc.Elements()
	return elems
}

// without returns doc minus the named top-level keys.
func without(doc bson.Raw, keys ...string) bson.Raw {
	d := bson.D{}
	for _, e := range elements(doc) {
		if !slices.Contains(keys, e.Key()) {
			d = append(d, bson.E{Key: e.Key(), Value: e.Value()})
		}
	}
	out, err := bson.Marshal(d)
	if err != nil {
		// Re-marshalling elements of a valid document cannot fail.
		panic(err)
	}
	return out
}

// single returns the only key of a document such as {insertOne: {...}}.
func single(doc bson.Raw) (string, bson.RawValue, error) {
	elems := elements(doc)
	if len(elems) != 1 {
		return "", bson.RawValue{}, fmt.Errorf("expected a document with exactly one key, got %s", doc)
	}
	return elems[0].Key(), elems[0].Value(), nil
}
