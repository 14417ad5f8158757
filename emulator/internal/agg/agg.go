// Package agg runs MongoDB aggregation pipelines over in-memory document
// snapshots: it parses the stages of an aggregate command (or a
// pipeline-style update), validates them as the server does, and evaluates
// them in order. A trailing $out or $merge is parsed into an Output for the
// caller to perform. Expressions come from package expr; query filters
// ($match) are compiled by a function the caller provides.
package agg

import (
	"maps"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Env is what a pipeline needs from its surroundings.
type Env struct {
	// Collection returns a snapshot of another collection's documents in
	// the same database, for $lookup / $unionWith; nil makes those stages
	// fail.
	Collection func(name string) ([]bson.D, error)
	// Vars holds evaluated variables: the command's `let`, plus NOW and
	// CLUSTER_TIME (set here when absent).
	Vars map[string]any
	// Match compiles a query filter for $match.
	Match func(filter bson.D, vars map[string]any) (func(bson.D) (bool, error), error)
	// LocalSessions lists the server's sessions for $listLocalSessions,
	// given the stage's specification; nil makes that stage fail.
	LocalSessions func(spec bson.D) ([]bson.D, error)
	// Collator is the aggregation's collation for $sort and $group keys
	// and $addToSet (the `collation` option or the collection's default;
	// MongoDB manual, "Collation"); nil is binary. $match gets it through
	// Match.
	Collator value.Collator
}

// Pipeline is a compiled pipeline.
type Pipeline struct {
	// Output is set when the last stage is $out or $merge.
	Output *Output
	// Source names a leading stage that produces its own documents
	// ("$documents", "$listLocalSessions"); such pipelines ignore their
	// input, and the server allows them only in database-level aggregates.
	Source string

	stages []stage
	vars   map[string]any
}

// Output is a parsed $out or $merge target; the caller writes the results.
type Output struct {
	Stage    string // "$out" or "$merge"
	DB, Coll string // DB is "" for the pipeline's own database
	// Spec is the stage's specification as a document: {db, coll} for
	// $out, the full $merge document (a bare collection name becomes
	// {into: name}).
	Spec bson.D
}

// Compile parses and validates a pipeline.
func Compile(stages bson.A, env Env) (*Pipeline, error) {
	vars := maps.Clone(env.Vars)
	if vars == nil {
		vars = map[string]any{}
	}
	if _, ok := vars["NOW"]; !ok {
		vars["NOW"] = bson.NewDateTimeFromTime(time.Now())
	}
	if _, ok := vars["CLUSTER_TIME"]; !ok {
		vars["CLUSTER_TIME"] = bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}
	}
	env.Vars = vars
	c := &compiler{env: env}
	p, err := c.pipeline(stages)
	if err != nil {
		return nil, err
	}
	p.vars = vars
	return p, nil
}

// Run evaluates the pipeline over docs, which it never modifies. The
// results are fresh copies the caller may keep or change.
func (p *Pipeline) Run(docs []bson.D) ([]bson.D, error) {
	out, err := p.run(&runCtx{vars: p.vars}, docs)
	if err != nil {
		return nil, err
	}
	for i, d := range out {
		out[i] = value.CloneDoc(d)
	}
	return out, nil
}

func (p *Pipeline) run(rc *runCtx, docs []bson.D) ([]bson.D, error) {
	var err error
	for _, s := range p.stages {
		if docs, err = s.run(rc, docs); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// runCtx carries the variables of one run. sub is set inside a $lookup
// whose `let` adds variables, so stages that bound variables at compile
// time must rebind them.
type runCtx struct {
	vars map[string]any
	sub  bool
}

type stage interface {
	run(rc *runCtx, docs []bson.D) ([]bson.D, error)
}

type stageFunc func(rc *runCtx, docs []bson.D) ([]bson.D, error)

func (f stageFunc) run(rc *runCtx, docs []bson.D) ([]bson.D, error) { return f(rc, docs) }

// where a pipeline is nested, for stage placement rules.
type nesting int

const (
	topLevel nesting = iota
	inFacet
	inLookup
	inUnionWith
)

type compiler struct {
	env  Env
	nest nesting
}

type stageParser func(c *compiler, name string, spec any) (stage, error)

// stageParsers is filled in init functions; a literal would form an
// initialization cycle through compiler.pipeline.
var stageParsers = map[string]stageParser{}

// unsupportedStages are real server stages the emulator does not run.
var unsupportedStages = []string{
	"$geoNear", "$graphLookup", "$bucketAuto", "$collStats", "$indexStats", "$currentOp",
	"$changeStream", "$changeStreamSplitLargeEvent", "$search", "$searchMeta", "$vectorSearch",
	"$densify", "$fill", "$setWindowFields", "$redact", "$planCacheStats", "$listSessions",
	"$listSearchIndexes", "$shardedDataDistribution", "$listSampledQueries",
}

var sourceStages = map[string]bool{"$documents": true, "$listLocalSessions": true}

func (c *compiler) pipeline(stages bson.A) (*Pipeline, error) {
	p := &Pipeline{}
	for i, raw := range stages {
		spec, ok := raw.(bson.D)
		if m, isM := raw.(bson.M); isM {
			spec, ok = value.AsDoc(m), true
		}
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "Each element of the 'pipeline' array must be an object")
		}
		if len(spec) != 1 {
			return nil, mongoerr.New(40323, "A pipeline stage specification object must contain exactly one field.")
		}
		name := spec[0].Key
		last := i == len(stages)-1
		if name == "$out" || name == "$merge" {
			switch c.nest {
			case inFacet:
				return nil, mongoerr.New(40600, "%s is not allowed to be used within a $facet stage", name)
			case inLookup, inUnionWith:
				return nil, mongoerr.New(51047, "%s is not allowed within a $lookup's sub-pipeline", name)
			}
			if !last {
				return nil, mongoerr.New(40601, "%s can only be the final stage in the pipeline", name)
			}
			out, err := parseOutput(name, spec[0].Value)
			if err != nil {
				return nil, err
			}
			p.Output = out
			continue
		}
		if sourceStages[name] {
			if i != 0 {
				return nil, mongoerr.New(40602, "%s is only valid as the first stage in a pipeline", name)
			}
			p.Source = name
		}
		parse, ok := stageParsers[name]
		if !ok {
			for _, u := range unsupportedStages {
				if u == name {
					return nil, mongoerr.New(mongoerr.NotImplemented, "the %s stage is not supported by this server", name)
				}
			}
			return nil, mongoerr.New(40324, "Unrecognized pipeline stage name: '%s'", name)
		}
		s, err := parse(c, name, spec[0].Value)
		if err != nil {
			return nil, err
		}
		p.stages = append(p.stages, s)
	}
	return p, nil
}

// sub compiles a nested pipeline.
func (c *compiler) sub(stages bson.A, nest nesting) (*Pipeline, error) {
	inner := &compiler{env: c.env, nest: nest}
	return inner.pipeline(stages)
}

// prefixed adds the server's "Invalid $stage :: caused by :: " context to
// an error message, keeping its code.
func prefixed(stage string, err error) error {
	e := mongoerr.As(err)
	if e == nil || strings.HasPrefix(e.Msg, "Invalid ") {
		return err
	}
	cp := *e
	cp.Msg = "Invalid " + stage + " :: caused by :: " + e.Msg
	return &cp
}
