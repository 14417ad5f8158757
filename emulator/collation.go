package emulator

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/collation"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/query"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Collations (MongoDB manual, "Collation",
// https://www.mongodb.com/docs/v7.0/reference/collation/): an operation's
// `collation` option, or else the collection's (or view's) default
// collation given at create, orders and equates strings in its query
// predicates, sort, distinct values, $group keys and unique index keys.
// The comparison itself is package collation's.
//
// Known differences from MongoDB, besides those of package collation:
// aggregation expressions ($expr, and $eq, $lt, $in, $setUnion and the
// like inside $project or $group) compare strings in binary, as does the
// choice of an array's smallest or largest element for an aggregation
// $sort key; a query with a non-simple collation never uses the _id index
// for string _id values (results are the same, only slower).

// collExt is what the emulator keeps about a collection beyond its data:
// its default collation, its validator, and, for a view, its definition.
type collExt struct {
	collator  *collation.Collator // default collation; nil is simple
	validator *validator          // nil without one
	view      *viewDef            // non-nil for a view
}

// opCollation returns the collation an operation runs under: the
// `collation` field of spec (a command or one write statement) when
// present, else c's default.
func opCollation(c *collection, spec bson.D) (*collation.Collator, error) {
	v, ok := value.Lookup(spec, "collation")
	if !ok || v == nil {
		if c == nil {
			return nil, nil
		}
		return c.ext.collator, nil
	}
	d, isDoc := v.(bson.D)
	if !isDoc {
		return nil, mongoerr.New(mongoerr.TypeMismatch, "collation must be an object")
	}
	coll, err := collation.Parse(d)
	if err != nil {
		return nil, err
	}
	if c != nil && c.ext.view != nil && !collation.Equal(coll, c.ext.collator) {
		// MongoDB manual, "Views": operations on a view cannot override
		// its default collation.
		return nil, mongoerr.New(mongoerr.OptionNotSupportedOnView, "Cannot override a view's default collation")
	}
	return coll, nil
}

// collator adapts a collation for the comparison packages, where a nil
// interface (not a typed nil) is the simple collation.
func collator(c *collation.Collator) value.Collator {
	if c == nil {
		return nil
	}
	return c
}

func compileFilterColl(filter bson.D, vars map[string]any, coll *collation.Collator) (*query.Filter, error) {
	return query.Compile(filter, query.Options{Vars: vars, Expr: compileExpr, Collator: collator(coll)})
}

func compileSortColl(spec bson.D, coll *collation.Collator) (*query.Sort, error) {
	s, err := query.CompileSort(spec)
	if err != nil || coll == nil {
		return s, err
	}
	return s.WithCollator(coll), nil
}

// matcherColl is the $match compiler of a pipeline run under coll.
func matcherColl(coll *collation.Collator) func(bson.D, map[string]any) (func(bson.D) (bool, error), error) {
	return func(filter bson.D, vars map[string]any) (func(bson.D) (bool, error), error) {
		f, err := compileFilterColl(filter, vars, coll)
		if err != nil {
			return nil, err
		}
		return f.Match, nil
	}
}

func (x *exec) aggEnvColl(vars map[string]any, coll *collation.Collator) agg.Env {
	env := x.aggEnv(vars)
	env.Match = matcherColl(coll)
	env.Collator = collator(coll)
	return env
}

// createCollation reads create's `collation`: the collection's default,
// which its indexes inherit. {locale: "simple"} is the same as none.
func createCollation(opts bson.D) (*collation.Collator, bson.D, error) {
	v, ok := value.Lookup(opts, "collation")
	if !ok {
		return nil, opts, nil
	}
	d, isDoc := v.(bson.D)
	if !isDoc {
		return nil, nil, wrongType("create", "collation", v, "object")
	}
	coll, err := collation.Parse(d)
	if err != nil {
		return nil, nil, err
	}
	out := withoutField(opts, "collation")
	if coll != nil {
		// listCollections reports the full specification.
		out = append(out, bson.E{Key: "collation", Value: coll.Doc()})
	}
	return coll, out, nil
}

// setIndexCollation gives ix the collation its specification names, or
// else the collection's default; listIndexes then reports the full
// collation document for a non-simple one and none for simple.
func setIndexCollation(c *collection, ix *index, spec bson.D) error {
	coll := c.ext.collator
	if v, ok := value.Lookup(spec, "collation"); ok {
		d, isDoc := v.(bson.D)
		if !isDoc {
			return wrongType("createIndexes", "collation", v, "object")
		}
		var err error
		if coll, err = collation.Parse(d); err != nil {
			return err
		}
	}
	ix.collator = coll
	ix.spec = withoutField(ix.spec, "collation")
	if coll != nil {
		ix.spec = append(ix.spec, bson.E{Key: "collation", Value: coll.Doc()})
	}
	return nil
}
