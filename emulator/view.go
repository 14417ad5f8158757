package emulator

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/query"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Views (MongoDB manual, "Views",
// https://www.mongodb.com/docs/v7.0/core/views/): create with viewOn and
// pipeline defines a read-only collection whose documents are the
// pipeline's results over another collection or view. find, aggregate,
// count, distinct and estimatedDocumentCount read through it; writes and
// index builds fail with CommandNotSupportedOnView (166); listCollections
// reports it with type "view" and options {viewOn, pipeline}. A view has
// its own default collation (none unless given at create); a view on a
// view must have its source's collation, and an operation on a view
// cannot name another one (OptionNotSupportedOnView, 167).
//
// Known difference: the view's pipeline runs in full on every read, and
// the read's filter, sort, skip and limit apply to its results, where
// MongoDB merges them into one pipeline (same results).

// viewDef is a view's definition.
type viewDef struct {
	viewOn   string
	pipeline bson.A
}

// maxViewDepth is MongoDB's ViewGraph::kMaxViewDepth.
const maxViewDepth = 20

// createView handles create with viewOn. opts are create's options as
// stored (collation already expanded).
func (x *exec) createView(name string, opts bson.D) (bson.D, error) {
	onV, _ := value.Lookup(opts, "viewOn")
	on, ok := onV.(string)
	if !ok {
		return nil, wrongType("create", "viewOn", onV, "string")
	}
	if on == "" {
		return nil, mongoerr.New(mongoerr.BadValue, "'viewOn' cannot be empty")
	}
	pipeline := bson.A{}
	if p, ok := value.Lookup(opts, "pipeline"); ok {
		arr, isArr := p.(bson.A)
		if !isArr {
			return nil, wrongType("create", "pipeline", p, "array")
		}
		pipeline = arr
	}
	for _, e := range opts {
		switch e.Key {
		case "viewOn", "pipeline", "collation":
		default:
			return nil, mongoerr.New(mongoerr.InvalidOptions, "option not supported on a view: %s", e.Key)
		}
	}
	if x.txn != nil {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "Cannot create a view in a multi-document transaction.")
	}
	// The pipeline must compile, as MongoDB validates it at create.
	if _, err := agg.Compile(pipeline, x.aggEnv(nil)); err != nil {
		return nil, err
	}
	if err := x.checkViewGraph(name, on); err != nil {
		return nil, err
	}
	coll, _, err := createCollation(opts)
	if err != nil {
		return nil, err
	}
	if src := x.coll(on); src != nil && src.ext.view != nil && !collation.Equal(src.ext.collator, coll) {
		// MongoDB manual, "Views": a view on a view must have the
		// source view's collation.
		return nil, mongoerr.New(mongoerr.OptionNotSupportedOnView, "View %s.%s has conflicting collation with view %s.%s", x.db, name, x.db, on)
	}
	stored := bson.D{{Key: "viewOn", Value: on}, {Key: "pipeline", Value: pipeline}}
	if coll != nil {
		stored = append(stored, bson.E{Key: "collation", Value: coll.Doc()})
	}
	c, exists := x.s.store.createCollection(x.db, name, stored)
	if exists {
		return nil, mongoerr.New(mongoerr.NamespaceExists, "Namespace %s.%s already exists", x.db, name)
	}
	c.ext.collator = coll
	c.ext.view = &viewDef{viewOn: on, pipeline: pipeline}
	x.touch()
	return okReply(), nil
}

// checkViewGraph refuses a view that would reach itself or nest too deep.
func (x *exec) checkViewGraph(name, on string) error {
	seen := map[string]bool{name: true}
	for depth := 1; ; depth++ {
		if seen[on] {
			return mongoerr.New(mongoerr.GraphContainsCycle, "View cycle detected: %s.%s", x.db, on)
		}
		if depth > maxViewDepth {
			return mongoerr.New(mongoerr.ViewDepthLimitExceeded, "View depth too deep or view cycle detected. Maximum depth is %d", maxViewDepth)
		}
		seen[on] = true
		c := x.coll(on)
		if c == nil || c.ext.view == nil {
			return nil
		}
		on = c.ext.view.viewOn
	}
}

// notOnView fails a write or index command on a view as MongoDB does.
func (x *exec) notOnView(c *collection) error {
	if c != nil && c.ext.view != nil {
		return mongoerr.New(mongoerr.CommandNotSupportedOnView, "Namespace %s.%s is a view, not a collection", c.db, c.name)
	}
	return nil
}

// viewDocs evaluates a view: its pipeline over its source, which may be a
// view itself, under the view's collation.
func (x *exec) viewDocs(c *collection) ([]bson.D, error) {
	var chain []*collection
	for c != nil && c.ext.view != nil {
		if len(chain) > maxViewDepth {
			return nil, mongoerr.New(mongoerr.ViewDepthLimitExceeded, "View depth too deep or view cycle detected. Maximum depth is %d", maxViewDepth)
		}
		chain = append(chain, c)
		c = x.coll(c.ext.view.viewOn)
	}
	docs := x.view.docs(c)
	for i := len(chain) - 1; i >= 0; i-- {
		v := chain[i]
		vars, err := x.letVars()
		if err != nil {
			return nil, err
		}
		p, err := agg.Compile(v.ext.view.pipeline, x.aggEnvColl(vars, v.ext.collator))
		if err != nil {
			return nil, err
		}
		if docs, err = p.Run(docs); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// sourceDocs are the documents an aggregate or find reads from c: a
// collection's, or a view's results.
func (x *exec) sourceDocs(c *collection) ([]bson.D, error) {
	if c != nil && c.ext.view != nil {
		return x.viewDocs(c)
	}
	return x.view.docs(c), nil
}

// matchView is match over a view's documents; the hits have no record.
func (x *exec) matchView(c *collection, f *query.Filter, limit int) ([]hit, error) {
	docs, err := x.viewDocs(c)
	if err != nil {
		return nil, err
	}
	var hits []hit
	for _, d := range docs {
		ok, elem, err := f.MatchElem(d)
		if err != nil {
			return nil, err
		}
		if ok {
			hits = append(hits, hit{doc: d, elem: elem})
			if limit > 0 && len(hits) == limit {
				break
			}
		}
	}
	return hits, nil
}

// collModOptions applies collMod's validation options to a collection, or
// a new viewOn and pipeline to a view (MongoDB manual, "collMod").
func (x *exec) collModOptions(c *collection, opts bson.D) error {
	var viewOpts, valOpts bson.D
	for _, e := range opts {
		if e.Key == "viewOn" || e.Key == "pipeline" {
			viewOpts = append(viewOpts, e)
		} else {
			valOpts = append(valOpts, e)
		}
	}
	if len(valOpts) > 0 {
		if err := x.collModValidation(c, valOpts); err != nil {
			return err
		}
	}
	if len(viewOpts) == 0 {
		return nil
	}
	if c.ext.view == nil {
		return mongoerr.New(mongoerr.InvalidOptions, "option only supported on a view: %s", viewOpts[0].Key)
	}
	def := *c.ext.view
	for _, e := range viewOpts {
		switch e.Key {
		case "viewOn":
			s, ok := e.Value.(string)
			if !ok || s == "" {
				return wrongType("collMod", "viewOn", e.Value, "string")
			}
			def.viewOn = s
		case "pipeline":
			arr, ok := e.Value.(bson.A)
			if !ok {
				return wrongType("collMod", "pipeline", e.Value, "array")
			}
			def.pipeline = arr
		}
	}
	if _, err := agg.Compile(def.pipeline, x.aggEnv(nil)); err != nil {
		return err
	}
	if err := x.checkViewGraph(c.name, def.viewOn); err != nil {
		return err
	}
	c.ext.view = &def
	opts = bson.D{{Key: "viewOn", Value: def.viewOn}, {Key: "pipeline", Value: def.pipeline}}
	if coll, ok := value.Lookup(c.options, "collation"); ok {
		opts = append(opts, bson.E{Key: "collation", Value: coll})
	}
	c.options = opts
	return nil
}
