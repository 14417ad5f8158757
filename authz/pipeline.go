package authz

import (
	"fmt"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// PipelineError is a stage whose namespace fields have a shape MongoDB
// would refuse, so what it touches cannot be known: the request is
// refused as an argument error rather than guessed at.
type PipelineError struct {
	Field  string // e.g. "pipeline[2].$lookup.from"
	Reason string
}

func (e *PipelineError) Error() string { return "authz: invalid " + e.Field + ": " + e.Reason }

// maxPipelineDepth bounds how deep sub-pipelines nest, so the walk's
// recursion is bounded whatever the input; it is far deeper than any
// pipeline a caller needs.
const maxPipelineDepth = 64

// PipelineAccesses lists what the stages of a pipeline read and write
// besides the collection it runs on, which is in database db: every
// namespace that a stage names, in the order the stages name them, each
// access once. field is the pipeline's field path for errors, e.g.
// "pipeline" or "update_pipeline.stages".
//
// The stages and how MongoDB resolves what they name:
//
//   - $lookup reads from: a collection of the same database, or
//     {db, coll} (mongod accepts that form only for config.cache.chunks.*,
//     local.oplog.rs and local.tenantMigration.oplogView, see
//     parseLookupFromAndResolveNamespace in mongo's
//     src/mongo/db/pipeline/document_source_lookup.cpp; Atlas Data
//     Federation accepts any database). Its pipeline runs in from's
//     database (LiteParsedPipeline(fromNss, …) there), so a nested $lookup
//     of a cross-database $lookup names that database's collections.
//     https://www.mongodb.com/docs/manual/reference/operator/aggregation/lookup/
//   - $graphLookup reads from, a collection of the same database.
//     https://www.mongodb.com/docs/manual/reference/operator/aggregation/graphLookup/
//   - $unionWith reads coll of the same database, given as a string or
//     {coll, pipeline}; its pipeline runs in the same database.
//     https://www.mongodb.com/docs/manual/reference/operator/aggregation/unionWith/
//   - $facet runs each sub-pipeline on the stage's input, in the same
//     database. https://www.mongodb.com/docs/manual/reference/operator/aggregation/facet/
//   - $out writes a collection of the same database, or {db, coll}.
//     https://www.mongodb.com/docs/manual/reference/operator/aggregation/out/
//   - $merge writes into: a string (a collection of the same database, as
//     is the shorthand {$merge: "coll"}), or {db, coll} with db defaulting
//     to the same database; a whenMatched pipeline runs against the target
//     (document_source_merge.cpp parses it with the target namespace).
//     https://www.mongodb.com/docs/manual/reference/operator/aggregation/merge/
//
// A stage argument that repeats one of these fields is refused, since
// MongoDB would use one of the values or refuse it. A nested stage with
// several keys (which MongoDB refuses) is read as several stages. Other
// stages name no namespace of their own: they work on the pipeline's
// collection ($collStats, $indexStats, $changeStream on it), or report on
// the server ($currentOp, $listLocalSessions, $listSessions), which MongoDB
// runs only as a collection-less aggregate on admin or on
// config.system.sessions, namespaces an Aggregate request cannot name.
func PipelineAccesses(db, field string, stages []bson.Raw) ([]Access, error) {
	w := walker{seen: map[Access]bool{}}
	if err := w.pipeline(field, db, stages, 0); err != nil {
		return nil, err
	}
	return w.out, nil
}

type walker struct {
	out  []Access
	seen map[Access]bool
}

func (w *walker) add(db, coll string, a Action) {
	acc := Access{Namespace: Namespace{Database: db, Collection: coll}, Action: a}
	if !w.seen[acc] {
		w.seen[acc] = true
		w.out = append(w.out, acc)
	}
}

func (w *walker) pipeline(field, db string, stages []bson.Raw, depth int) error {
	if depth > maxPipelineDepth {
		return &PipelineError{Field: field, Reason: fmt.Sprintf("sub-pipelines nested more than %d deep", maxPipelineDepth)}
	}
	for i, s := range stages {
		sf := field + "[" + strconv.Itoa(i) + "]"
		elems, err := s.Elements()
		if err != nil {
			return &PipelineError{Field: sf, Reason: "bson: " + err.Error()}
		}
		for _, e := range elems {
			if err := w.stage(sf+"."+e.Key(), db, e.Key(), e.Value(), depth); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *walker) stage(field, db, name string, v bson.RawValue, depth int) error {
	switch name {
	case "$lookup":
		return w.lookup(field, db, v, depth)
	case "$graphLookup":
		return w.graphLookup(field, db, v)
	case "$unionWith":
		return w.unionWith(field, db, v, depth)
	case "$facet":
		return w.facet(field, db, v, depth)
	case "$out":
		ns, err := namespaceArg(field, db, v)
		if err != nil {
			return err
		}
		w.add(ns.Database, ns.Collection, Write)
	case "$merge":
		return w.merge(field, db, v, depth)
	}
	return nil
}

func (w *walker) lookup(field, db string, v bson.RawValue, depth int) error {
	elems, err := specElements(field, v)
	if err != nil {
		return err
	}
	// Without from, the pipeline must start with $documents and runs in
	// the same database.
	sub := db
	from, ok, err := onlyField(field, elems, "from")
	if err != nil {
		return err
	}
	if ok {
		ns, err := namespaceArg(field+".from", db, from)
		if err != nil {
			return err
		}
		w.add(ns.Database, ns.Collection, Read)
		sub = ns.Database
	}
	return w.subPipeline(field, sub, elems, "pipeline", depth)
}

func (w *walker) graphLookup(field, db string, v bson.RawValue) error {
	elems, err := specElements(field, v)
	if err != nil {
		return err
	}
	from, ok, err := onlyField(field, elems, "from")
	if err != nil || !ok {
		return err
	}
	coll, err := collectionArg(field+".from", from)
	if err != nil {
		return err
	}
	w.add(db, coll, Read)
	return nil
}

func (w *walker) unionWith(field, db string, v bson.RawValue, depth int) error {
	if _, ok := v.StringValueOK(); ok {
		coll, err := collectionArg(field, v)
		if err != nil {
			return err
		}
		w.add(db, coll, Read)
		return nil
	}
	if _, ok := v.DocumentOK(); !ok {
		return &PipelineError{Field: field, Reason: "must be a collection name or a {coll, pipeline} document"}
	}
	elems, err := specElements(field, v)
	if err != nil {
		return err
	}
	// Without coll, the pipeline must start with $documents.
	coll, ok, err := onlyField(field, elems, "coll")
	if err != nil {
		return err
	}
	if ok {
		name, err := collectionArg(field+".coll", coll)
		if err != nil {
			return err
		}
		w.add(db, name, Read)
	}
	return w.subPipeline(field, db, elems, "pipeline", depth)
}

func (w *walker) facet(field, db string, v bson.RawValue, depth int) error {
	elems, err := specElements(field, v)
	if err != nil {
		return err
	}
	for _, e := range elems {
		f := field + "." + e.Key()
		stages, err := stagesArg(f, e.Value())
		if err != nil {
			return err
		}
		if err := w.pipeline(f, db, stages, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) merge(field, db string, v bson.RawValue, depth int) error {
	if _, ok := v.StringValueOK(); ok {
		coll, err := collectionArg(field, v)
		if err != nil {
			return err
		}
		w.add(db, coll, Write)
		return nil
	}
	if _, ok := v.DocumentOK(); !ok {
		return &PipelineError{Field: field, Reason: "must be a collection name or a document with into"}
	}
	elems, err := specElements(field, v)
	if err != nil {
		return err
	}
	into, ok, err := onlyField(field, elems, "into")
	if err != nil {
		return err
	}
	if !ok {
		return &PipelineError{Field: field + ".into", Reason: "required"}
	}
	ns, err := namespaceArg(field+".into", db, into)
	if err != nil {
		return err
	}
	w.add(ns.Database, ns.Collection, Write)
	// whenMatched is a mode name or a pipeline; only a pipeline names
	// anything.
	wm, ok, err := onlyField(field, elems, "whenMatched")
	if err != nil || !ok || wm.Type != bson.TypeArray {
		return err
	}
	return w.subPipeline(field, ns.Database, elems, "whenMatched", depth)
}

// subPipeline walks the field key of a stage's argument, if it is there,
// as a pipeline run in database db.
func (w *walker) subPipeline(field, db string, elems []bson.RawElement, key string, depth int) error {
	v, ok, err := onlyField(field, elems, key)
	if err != nil || !ok {
		return err
	}
	f := field + "." + key
	stages, err := stagesArg(f, v)
	if err != nil {
		return err
	}
	return w.pipeline(f, db, stages, depth+1)
}

// onlyField finds the field key of a stage's argument. A key given twice
// is an error: MongoDB would take one of them or refuse the stage, and
// walking each would multiply the work at every level of nesting.
func onlyField(field string, elems []bson.RawElement, key string) (bson.RawValue, bool, error) {
	var (
		v     bson.RawValue
		found bool
	)
	for _, e := range elems {
		if e.Key() != key {
			continue
		}
		if found {
			return bson.RawValue{}, false, &PipelineError{Field: field + "." + key, Reason: "given twice"}
		}
		v, found = e.Value(), true
	}
	return v, found, nil
}

// specElements are the fields of a stage's document argument.
func specElements(field string, v bson.RawValue) ([]bson.RawElement, error) {
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, &PipelineError{Field: field, Reason: "must be a document"}
	}
	elems, err := doc.Elements()
	if err != nil {
		return nil, &PipelineError{Field: field, Reason: "bson: " + err.Error()}
	}
	return elems, nil
}

// stagesArg reads an array of stage documents.
func stagesArg(field string, v bson.RawValue) ([]bson.Raw, error) {
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, &PipelineError{Field: field, Reason: "must be an array of stages"}
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, &PipelineError{Field: field, Reason: "bson: " + err.Error()}
	}
	stages := make([]bson.Raw, len(vals))
	for i, sv := range vals {
		doc, ok := sv.DocumentOK()
		if !ok {
			return nil, &PipelineError{Field: field + "[" + strconv.Itoa(i) + "]", Reason: "a stage must be a document"}
		}
		stages[i] = doc
	}
	return stages, nil
}

// collectionArg reads a collection name.
func collectionArg(field string, v bson.RawValue) (string, error) {
	s, ok := v.StringValueOK()
	switch {
	case !ok:
		return "", &PipelineError{Field: field, Reason: "must be a collection name (a string)"}
	case s == "":
		return "", &PipelineError{Field: field, Reason: "empty collection name"}
	}
	return s, nil
}

// namespaceArg reads a collection of database db, or a {db, coll}
// document, whose db defaults to db when missing or empty.
func namespaceArg(field, db string, v bson.RawValue) (Namespace, error) {
	if _, ok := v.StringValueOK(); ok {
		coll, err := collectionArg(field, v)
		return Namespace{Database: db, Collection: coll}, err
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return Namespace{}, &PipelineError{Field: field, Reason: "must be a collection name or a {db, coll} document"}
	}
	elems, err := doc.Elements()
	if err != nil {
		return Namespace{}, &PipelineError{Field: field, Reason: "bson: " + err.Error()}
	}
	ns := Namespace{Database: db}
	var haveDB, haveColl bool
	for _, e := range elems {
		var have *bool
		switch e.Key() {
		case "db":
			have = &haveDB
		case "coll":
			have = &haveColl
		default:
			continue
		}
		s, ok := e.Value().StringValueOK()
		switch {
		case !ok:
			return Namespace{}, &PipelineError{Field: field + "." + e.Key(), Reason: "must be a string"}
		case *have:
			return Namespace{}, &PipelineError{Field: field + "." + e.Key(), Reason: "given twice"}
		}
		*have = true
		if e.Key() == "coll" {
			ns.Collection = s
		} else if s != "" {
			ns.Database = s
		}
	}
	if ns.Collection == "" {
		return Namespace{}, &PipelineError{Field: field + ".coll", Reason: "required, a non-empty collection name"}
	}
	return ns, nil
}
