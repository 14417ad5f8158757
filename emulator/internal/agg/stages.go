package agg

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/expr"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	stageParsers["$match"] = parseMatch
	stageParsers["$sort"] = parseSort
	stageParsers["$skip"] = parseSkip
	stageParsers["$limit"] = parseLimit
	stageParsers["$unwind"] = parseUnwind
	stageParsers["$replaceRoot"] = parseReplaceRoot
	stageParsers["$replaceWith"] = parseReplaceRoot
	stageParsers["$sample"] = parseSample
	stageParsers["$documents"] = parseDocuments
	stageParsers["$listLocalSessions"] = parseListLocalSessions
	stageParsers["$facet"] = parseFacet
	stageParsers["$lookup"] = parseLookup
	stageParsers["$unionWith"] = parseUnionWith
}

func parseMatch(c *compiler, _ string, spec any) (stage, error) {
	filter, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(15959, "the match filter must be an expression in an object")
	}
	if c.env.Match == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "$match is not available in this context")
	}
	match := c.env.Match
	var pred func(bson.D) (bool, error)
	if c.nest != inLookup {
		var err error
		if pred, err = match(filter, c.env.Vars); err != nil {
			return nil, err
		}
	}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		p := pred
		if p == nil || rc.sub {
			var err error
			if p, err = match(filter, rc.vars); err != nil {
				return nil, err
			}
		}
		var out []bson.D
		for _, d := range docs {
			ok, err := p(d)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, d)
			}
		}
		return out, nil
	}), nil
}

func parseSort(c *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(15973, "the $sort key specification must be an object")
	}
	if len(d) == 0 {
		return nil, mongoerr.New(15976, "$sort stage must have at least one sort key")
	}
	for _, e := range d {
		if _, isDoc := value.Doc(e.Value); !isDoc && !value.IsNumber(e.Value) {
			return nil, mongoerr.New(15974, "$sort key ordering must be specified using a number or {$meta: 'textScore'}")
		}
	}
	pattern, err := expr.ParseSortSpec(d, 15975)
	if err != nil {
		return nil, err
	}
	coll := c.env.Collator
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		return sortDocsWith(docs, pattern, coll), nil
	}), nil
}

// SortDocs returns docs stably sorted by pattern, with MongoDB's array
// semantics (ascending sorts by an array's smallest element, descending
// by its largest).
func SortDocs(docs []bson.D, pattern expr.SortPattern) []bson.D {
	return sortDocsWith(docs, pattern, nil)
}

func sortDocsWith(docs []bson.D, pattern expr.SortPattern, coll value.Collator) []bson.D {
	type keyed struct {
		doc  bson.D
		keys []any
	}
	ks := make([]keyed, len(docs))
	for i, d := range docs {
		ks[i] = keyed{d, pattern.Keys(d)}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return pattern.CompareKeysWith(a.keys, b.keys, coll) })
	out := make([]bson.D, len(docs))
	for i, k := range ks {
		out[i] = k.doc
	}
	return out
}

// countArg reads the integral argument of $skip, $limit and $sample.
func countArg(v any) (int64, bool) {
	if i, ok := value.ToInt64(v); ok {
		return i, true
	}
	if f, ok := value.ToFloat(v); ok && f == math.Trunc(f) && !math.IsInf(f, 0) {
		if f >= math.MaxInt64 {
			return math.MaxInt64, true
		}
		return int64(f), true
	}
	return 0, false
}

func parseSkip(_ *compiler, _ string, spec any) (stage, error) {
	n, ok := countArg(spec)
	if !ok {
		return nil, mongoerr.New(15972, "Argument to $skip must be a number")
	}
	if n < 0 {
		return nil, mongoerr.New(15956, "Argument to $skip cannot be negative")
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		if n >= int64(len(docs)) {
			return nil, nil
		}
		return docs[n:], nil
	}), nil
}

func parseLimit(_ *compiler, _ string, spec any) (stage, error) {
	n, ok := countArg(spec)
	if !ok {
		return nil, mongoerr.New(15957, "the limit must be specified as a number")
	}
	if n <= 0 {
		return nil, mongoerr.New(15958, "the limit must be positive")
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		if n < int64(len(docs)) {
			return docs[:n], nil
		}
		return docs, nil
	}), nil
}

func parseUnwind(_ *compiler, _ string, spec any) (stage, error) {
	var path, indexField string
	preserve := false
	switch x := spec.(type) {
	case string:
		path = x
	case bson.D, bson.M:
		d, _ := value.Doc(x)
		havePath := false
		for _, e := range d {
			switch e.Key {
			case "path":
				s, ok := e.Value.(string)
				if !ok {
					return nil, mongoerr.New(28808, "expected a string as the path for $unwind stage, got %s", value.TypeAlias(e.Value))
				}
				path, havePath = s, true
			case "includeArrayIndex":
				s, ok := e.Value.(string)
				if !ok {
					return nil, mongoerr.New(28810, "expected a non-empty string for the includeArrayIndex option to $unwind stage, got %s", value.TypeAlias(e.Value))
				}
				if s == "" {
					return nil, mongoerr.New(28810, "expected a non-empty string for the includeArrayIndex option to $unwind stage")
				}
				if strings.HasPrefix(s, "$") {
					return nil, mongoerr.New(28822, "includeArrayIndex option to $unwind stage should not be prefixed with a '$': %s", s)
				}
				indexField = s
			case "preserveNullAndEmptyArrays":
				b, ok := e.Value.(bool)
				if !ok {
					return nil, mongoerr.New(28809, "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage, got %s", value.TypeAlias(e.Value))
				}
				preserve = b
			default:
				return nil, mongoerr.New(28811, "unrecognized option to $unwind stage: %s", e.Key)
			}
		}
		if !havePath {
			return nil, mongoerr.New(28812, "no path specified to $unwind stage")
		}
	default:
		return nil, mongoerr.New(15981, "expected either a string or an object as specification for $unwind stage, got %s", value.TypeAlias(spec))
	}
	if path == "" {
		return nil, mongoerr.New(28812, "no path specified to $unwind stage")
	}
	if !strings.HasPrefix(path, "$") {
		return nil, mongoerr.New(28818, "path option to $unwind stage should be prefixed with a '$': %s", path)
	}
	if err := expr.ValidatePath(path[1:]); err != nil {
		return nil, err
	}
	if indexField != "" {
		if err := expr.ValidatePath(indexField); err != nil {
			return nil, err
		}
	}
	segs := strings.Split(path[1:], ".")
	var indexSegs []string
	if indexField != "" {
		indexSegs = strings.Split(indexField, ".")
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		var out []bson.D
		for _, d := range docs {
			v, found := getPath(d, segs)
			arr, isArray := v.(bson.A)
			switch {
			case isArray && len(arr) > 0:
				for i, el := range arr {
					r := setPath(d, segs, el)
					if indexSegs != nil {
						r = setPath(r, indexSegs, int64(i))
					}
					out = append(out, r)
				}
			case isArray || !found || v == nil || isUndefined(v):
				if !preserve {
					continue
				}
				r := d
				if isArray {
					r = removePath(d, segs)
				}
				if indexSegs != nil {
					r = setPath(r, indexSegs, nil)
				}
				out = append(out, r)
			default:
				r := d
				if indexSegs != nil {
					r = setPath(r, indexSegs, nil)
				}
				out = append(out, r)
			}
		}
		return out, nil
	}), nil
}

func isUndefined(v any) bool {
	_, ok := v.(bson.Undefined)
	return ok
}

func parseReplaceRoot(_ *compiler, name string, spec any) (stage, error) {
	root := spec
	if name == "$replaceRoot" {
		d, ok := value.Doc(spec)
		if !ok {
			return nil, mongoerr.New(40229, "expected an object as specification for $replaceRoot stage, got %s", value.TypeAlias(spec))
		}
		haveRoot := false
		for _, e := range d {
			if e.Key != "newRoot" {
				return nil, mongoerr.New(40415, "BSON field '$replaceRoot.%s' is an unknown field.", e.Key)
			}
			root, haveRoot = e.Value, true
		}
		if !haveRoot {
			return nil, mongoerr.New(40414, "BSON field '$replaceRoot.newRoot' is missing but a required field")
		}
	}
	x, err := expr.Compile(root)
	if err != nil {
		return nil, err
	}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out := make([]bson.D, len(docs))
		for i, d := range docs {
			v, err := x.Eval(d, rc.vars)
			if err != nil {
				return nil, err
			}
			nd, ok := value.Doc(v)
			if !ok {
				shown := expr.Render(v)
				if _, missing := v.(value.Missing); missing {
					shown = "MISSING"
				}
				return nil, mongoerr.New(40228, "'newRoot' expression must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'. Input document: %s", shown, value.TypeAlias(v), expr.Render(d))
			}
			out[i] = nd
		}
		return out, nil
	}), nil
}

func parseSample(_ *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(28745, "the $sample stage specification must be an object")
	}
	size := int64(-1)
	for _, e := range d {
		if e.Key != "size" {
			return nil, mongoerr.New(28748, "unrecognized option to $sample: %s", e.Key)
		}
		n, ok := countArg(e.Value)
		if !ok {
			if f, isNum := value.ToFloat(e.Value); isNum && f >= 0 {
				n, ok = int64(f), true
			}
		}
		if !ok {
			if value.IsNumber(e.Value) {
				return nil, mongoerr.New(28747, "size argument to $sample must not be negative")
			}
			return nil, mongoerr.New(28746, "size argument to $sample must be a number")
		}
		if n < 0 {
			return nil, mongoerr.New(28747, "size argument to $sample must not be negative")
		}
		size = n
	}
	if size < 0 {
		return nil, mongoerr.New(28749, "$sample stage must specify a size")
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		// Seeded by the input size so that a run is reproducible.
		r := rand.New(rand.NewPCG(uint64(len(docs)), uint64(size)))
		perm := r.Perm(len(docs))
		n := min(int(size), len(docs))
		out := make([]bson.D, n)
		for i := range n {
			out[i] = docs[perm[i]]
		}
		return out, nil
	}), nil
}

func parseDocuments(_ *compiler, _ string, spec any) (stage, error) {
	x, err := expr.Compile(spec)
	if err != nil {
		return nil, err
	}
	return stageFunc(func(rc *runCtx, _ []bson.D) ([]bson.D, error) {
		v, err := x.Eval(nil, rc.vars)
		if err != nil {
			return nil, err
		}
		arr, ok := v.(bson.A)
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "$documents expression must evaluate to an array of objects, found %s", value.TypeAlias(v))
		}
		out := make([]bson.D, len(arr))
		for i, el := range arr {
			d, ok := value.Doc(el)
			if !ok {
				return nil, mongoerr.New(mongoerr.TypeMismatch, "$documents expression must evaluate to an array of objects, found an element of type %s", value.TypeAlias(el))
			}
			out[i] = d
		}
		return out, nil
	}), nil
}

func parseListLocalSessions(c *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(mongoerr.TypeMismatch, "$listLocalSessions options must be specified in an object, but found: %s", value.TypeAlias(spec))
	}
	list := c.env.LocalSessions
	if list == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "$listLocalSessions is not available in this context")
	}
	return stageFunc(func(_ *runCtx, _ []bson.D) ([]bson.D, error) {
		return list(d)
	}), nil
}

func parseFacet(c *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok || len(d) == 0 {
		return nil, mongoerr.New(40169, "the $facet specification must be a non-empty object, but found: %s", expr.Render(spec))
	}
	if c.nest == inFacet {
		return nil, mongoerr.New(40600, "$facet is not allowed to be used within a $facet stage")
	}
	type facet struct {
		name string
		p    *Pipeline
	}
	var facets []facet
	for _, e := range d {
		if err := expr.ValidateFieldName(e.Key); err != nil {
			return nil, err
		}
		arr, ok := e.Value.(bson.A)
		if !ok {
			return nil, mongoerr.New(40170, "arguments to $facet must be arrays, %s is type %s", e.Key, value.TypeAlias(e.Value))
		}
		if len(arr) == 0 {
			return nil, mongoerr.New(40172, "sub-pipeline in $facet stage cannot be empty: %s", e.Key)
		}
		for _, s := range arr {
			if sd, ok := value.Doc(s); !ok || len(sd) == 0 {
				return nil, mongoerr.New(40171, "elements of arrays in $facet spec must be non-empty objects, %s argument contained an element of type %s", e.Key, value.TypeAlias(s))
			} else if sourceStages[sd[0].Key] {
				return nil, mongoerr.New(40600, "%s is not allowed to be used within a $facet stage", sd[0].Key)
			}
		}
		p, err := c.sub(arr, inFacet)
		if err != nil {
			return nil, err
		}
		facets = append(facets, facet{e.Key, p})
	}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out := bson.D{}
		for _, f := range facets {
			res, err := f.p.run(rc, docs)
			if err != nil {
				return nil, err
			}
			arr := make(bson.A, len(res))
			for i, r := range res {
				arr[i] = r
			}
			out = append(out, bson.E{Key: f.name, Value: arr})
		}
		return []bson.D{out}, nil
	}), nil
}

func parseLookup(c *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(40319, "the $lookup stage specification must be an object, but found %s", value.TypeAlias(spec))
	}
	var from, localField, foreignField, as string
	var haveFrom, haveLocal, haveForeign bool
	var let bson.D
	var pipelineSpec bson.A
	havePipeline, haveLet := false, false
	str := func(e bson.E) (string, error) {
		s, ok := e.Value.(string)
		if !ok {
			return "", mongoerr.New(4570, "$lookup argument '%s: %s' must be a string, is type %s", e.Key, expr.Render(e.Value), value.TypeAlias(e.Value))
		}
		return s, nil
	}
	for _, e := range d {
		var err error
		switch e.Key {
		case "from":
			switch x := e.Value.(type) {
			case string:
				from, haveFrom = x, true
			case bson.D, bson.M:
				return nil, mongoerr.New(mongoerr.NotImplemented, "$lookup from another database is not supported by this server")
			default:
				return nil, mongoerr.New(40321, "$lookup 'from' field must be a string or an object, but found %s", value.TypeAlias(e.Value))
			}
		case "localField":
			localField, err = str(e)
			haveLocal = true
		case "foreignField":
			foreignField, err = str(e)
			haveForeign = true
		case "as":
			as, err = str(e)
		case "let":
			l, ok := value.Doc(e.Value)
			if !ok {
				return nil, mongoerr.New(mongoerr.FailedToParse, "$lookup argument 'let' must be an object, is type %s", value.TypeAlias(e.Value))
			}
			let, haveLet = l, true
		case "pipeline":
			a, ok := e.Value.(bson.A)
			if !ok {
				return nil, mongoerr.New(mongoerr.FailedToParse, "$lookup argument 'pipeline' must be an array, is type %s", value.TypeAlias(e.Value))
			}
			pipelineSpec, havePipeline = a, true
		default:
			return nil, mongoerr.New(mongoerr.FailedToParse, "unknown argument to $lookup: %s", e.Key)
		}
		if err != nil {
			return nil, err
		}
	}
	if as == "" {
		return nil, mongoerr.New(mongoerr.FailedToParse, "must specify 'as' field for a $lookup")
	}
	if err := expr.ValidatePath(as); err != nil {
		return nil, err
	}
	if haveLocal != haveForeign {
		return nil, mongoerr.New(mongoerr.FailedToParse, "$lookup requires both or neither of 'localField' and 'foreignField' to be specified")
	}
	if !havePipeline && !haveLocal {
		return nil, mongoerr.New(mongoerr.FailedToParse, "$lookup requires either 'pipeline' or both 'localField' and 'foreignField' to be specified")
	}
	if haveLet && !havePipeline {
		return nil, mongoerr.New(mongoerr.FailedToParse, "$lookup with 'let' must also specify 'pipeline'")
	}
	selfSourced := havePipeline && len(pipelineSpec) > 0 && firstStageName(pipelineSpec) == "$documents"
	if !haveFrom && !selfSourced {
		return nil, mongoerr.New(mongoerr.FailedToParse, "must specify 'from' field for a $lookup")
	}
	if haveFrom && c.env.Collection == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "$lookup is not available in this context")
	}
	type binding struct {
		name string
		x    expr.Expr
	}
	var bindings []binding
	for _, e := range let {
		if err := expr.ValidateVarName(e.Key); err != nil {
			return nil, err
		}
		x, err := expr.Compile(e.Value)
		if err != nil {
			return nil, err
		}
		bindings = append(bindings, binding{e.Key, x})
	}
	var sub *Pipeline
	if havePipeline {
		var err error
		if sub, err = c.sub(pipelineSpec, inLookup); err != nil {
			return nil, err
		}
	}
	collection := c.env.Collection
	asPath := strings.Split(as, ".")
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		var foreign []bson.D
		if haveFrom {
			var err error
			if foreign, err = collection(from); err != nil {
				return nil, err
			}
		}
		out := make([]bson.D, len(docs))
		for i, d := range docs {
			candidates := foreign
			if haveLocal {
				candidates = equalityMatches(queryValues(d, localField), foreign, foreignField)
			}
			if sub != nil {
				inner := &runCtx{vars: rc.vars, sub: true}
				if len(bindings) > 0 {
					inner.vars = make(map[string]any, len(rc.vars)+len(bindings))
					for k, v := range rc.vars {
						inner.vars[k] = v
					}
					for _, b := range bindings {
						v, err := b.x.Eval(d, rc.vars)
						if err != nil {
							return nil, err
						}
						inner.vars[b.name] = v
					}
				}
				var err error
				if candidates, err = sub.run(inner, candidates); err != nil {
					return nil, err
				}
			}
			arr := make(bson.A, len(candidates))
			for j, m := range candidates {
				arr[j] = m
			}
			out[i] = setPath(d, asPath, arr)
		}
		return out, nil
	}), nil
}

func firstStageName(stages bson.A) string {
	if d, ok := value.Doc(stages[0]); ok && len(d) > 0 {
		return d[0].Key
	}
	return ""
}

// equalityMatches returns the foreign documents whose foreignField equals
// one of the local values, with query semantics (arrays match by element,
// null matches missing).
func equalityMatches(local []any, foreign []bson.D, foreignField string) []bson.D {
	var out []bson.D
	for _, f := range foreign {
		fv := queryValues(f, foreignField)
		if slices.ContainsFunc(local, func(l any) bool {
			return slices.ContainsFunc(fv, func(x any) bool { return value.Equal(l, x) })
		}) {
			out = append(out, f)
		}
	}
	return out
}

func parseUnionWith(c *compiler, _ string, spec any) (stage, error) {
	var coll string
	var pipelineSpec bson.A
	haveColl, havePipeline := false, false
	switch x := spec.(type) {
	case string:
		coll, haveColl = x, true
	case bson.D, bson.M:
		d, _ := value.Doc(x)
		for _, e := range d {
			switch e.Key {
			case "coll":
				s, ok := e.Value.(string)
				if !ok {
					return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field '$unionWith.coll' is the wrong type '%s', expected type 'string'", value.TypeAlias(e.Value))
				}
				coll, haveColl = s, true
			case "pipeline":
				a, ok := e.Value.(bson.A)
				if !ok {
					return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field '$unionWith.pipeline' is the wrong type '%s', expected type 'array'", value.TypeAlias(e.Value))
				}
				pipelineSpec, havePipeline = a, true
			default:
				return nil, mongoerr.New(40415, "BSON field '$unionWith.%s' is an unknown field.", e.Key)
			}
		}
	default:
		return nil, mongoerr.New(mongoerr.FailedToParse, "the $unionWith stage specification must be an object or string, but found %s", value.TypeAlias(spec))
	}
	selfSourced := havePipeline && len(pipelineSpec) > 0 && firstStageName(pipelineSpec) == "$documents"
	if !haveColl && !selfSourced {
		return nil, mongoerr.New(40414, "BSON field '$unionWith.coll' is missing but a required field")
	}
	if haveColl && c.env.Collection == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "$unionWith is not available in this context")
	}
	var sub *Pipeline
	if havePipeline {
		var err error
		if sub, err = c.sub(pipelineSpec, inUnionWith); err != nil {
			return nil, err
		}
	}
	collection := c.env.Collection
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		var other []bson.D
		if haveColl {
			var err error
			if other, err = collection(coll); err != nil {
				return nil, err
			}
		}
		if sub != nil {
			var err error
			if other, err = sub.run(rc, other); err != nil {
				return nil, err
			}
		}
		out := make([]bson.D, 0, len(docs)+len(other))
		return append(append(out, docs...), other...), nil
	}), nil
}

var mergeWhenMatched = []string{"replace", "keepExisting", "merge", "fail"}
var mergeWhenNotMatched = []string{"insert", "discard", "fail"}

func parseOutput(name string, spec any) (*Output, error) {
	out := &Output{Stage: name}
	if name == "$out" {
		switch x := spec.(type) {
		case string:
			out.Coll = x
		case bson.D, bson.M:
			d, _ := value.Doc(x)
			for _, e := range d {
				s, ok := e.Value.(string)
				switch e.Key {
				case "db":
					out.DB = s
				case "coll":
					out.Coll = s
				case "timeseries":
					return nil, mongoerr.New(mongoerr.NotImplemented, "$out to a time-series collection is not supported by this server")
				default:
					return nil, mongoerr.New(40415, "BSON field '$out.%s' is an unknown field.", e.Key)
				}
				if !ok {
					return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field '$out.%s' is the wrong type '%s', expected type 'string'", e.Key, value.TypeAlias(e.Value))
				}
			}
			if out.Coll == "" {
				return nil, mongoerr.New(40414, "BSON field '$out.coll' is missing but a required field")
			}
		default:
			return nil, mongoerr.New(16990, "$out only supports a string or object argument, but found %s", value.TypeAlias(spec))
		}
		if out.Coll == "" {
			return nil, mongoerr.New(mongoerr.InvalidNamespace, "Invalid $out target namespace: the collection name cannot be empty")
		}
		out.Spec = bson.D{{Key: "db", Value: out.DB}, {Key: "coll", Value: out.Coll}}
		return out, nil
	}
	var d bson.D
	switch x := spec.(type) {
	case string:
		d = bson.D{{Key: "into", Value: x}}
	case bson.D, bson.M:
		d, _ = value.Doc(x)
	default:
		return nil, mongoerr.New(51182, "$merge only supports a string or object argument, but found %s", value.TypeAlias(spec))
	}
	haveInto := false
	for _, e := range d {
		switch e.Key {
		case "into":
			haveInto = true
			switch x := e.Value.(type) {
			case string:
				out.Coll = x
			case bson.D, bson.M:
				target, _ := value.Doc(x)
				for _, t := range target {
					s, ok := t.Value.(string)
					if !ok {
						return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field 'into.%s' is the wrong type '%s', expected type 'string'", t.Key, value.TypeAlias(t.Value))
					}
					switch t.Key {
					case "db":
						out.DB = s
					case "coll":
						out.Coll = s
					default:
						return nil, mongoerr.New(40415, "BSON field 'into.%s' is an unknown field.", t.Key)
					}
				}
			default:
				return nil, mongoerr.New(51178, "$merge 'into' field must be either a string or an object, but found %s", value.TypeAlias(e.Value))
			}
		case "on":
			switch x := e.Value.(type) {
			case string:
			case bson.A:
				if len(x) == 0 {
					return nil, mongoerr.New(51187, "If explicitly specifying $merge 'on', must include at least one field")
				}
				for _, f := range x {
					if _, ok := f.(string); !ok {
						return nil, mongoerr.New(51134, "$merge 'on' array elements must be strings, but found %s", value.TypeAlias(f))
					}
				}
			default:
				return nil, mongoerr.New(51186, "$merge 'on' field must be either a string or an array of strings, but found %s", value.TypeAlias(e.Value))
			}
		case "let":
			if _, ok := value.Doc(e.Value); !ok {
				return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field '$merge.let' is the wrong type '%s', expected type 'object'", value.TypeAlias(e.Value))
			}
		case "whenMatched":
			switch x := e.Value.(type) {
			case string:
				if !slices.Contains(mergeWhenMatched, x) {
					return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '$merge.whenMatched' is not a valid value.", x)
				}
			case bson.A:
			default:
				return nil, mongoerr.New(51191, "$merge 'whenMatched' field must be either a string or an array, but found %s", value.TypeAlias(e.Value))
			}
		case "whenNotMatched":
			s, ok := e.Value.(string)
			if !ok {
				return nil, mongoerr.New(mongoerr.TypeMismatch, "BSON field '$merge.whenNotMatched' is the wrong type '%s', expected type 'string'", value.TypeAlias(e.Value))
			}
			if !slices.Contains(mergeWhenNotMatched, s) {
				return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '$merge.whenNotMatched' is not a valid value.", s)
			}
		case "targetCollectionVersion":
		default:
			return nil, mongoerr.New(40415, "BSON field '$merge.%s' is an unknown field.", e.Key)
		}
	}
	if !haveInto {
		return nil, mongoerr.New(40414, "BSON field '$merge.into' is missing but a required field")
	}
	if out.Coll == "" {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "Invalid $merge target namespace: the collection name cannot be empty")
	}
	out.Spec = d
	return out, nil
}
