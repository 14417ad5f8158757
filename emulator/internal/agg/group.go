package agg

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/expr"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	stageParsers["$group"] = parseGroup
	stageParsers["$count"] = parseCount
	stageParsers["$sortByCount"] = parseSortByCount
	stageParsers["$bucket"] = parseBucket
}

// accumulator is one output field of $group.
type accumulator struct {
	field string
	op    string
	arg   expr.Expr
	coll  value.Collator // for $addToSet
}

// finish reduces the values the accumulator's argument took over a group.
func (a accumulator) finish(vals []any) (any, error) {
	present := make([]any, 0, len(vals))
	for _, v := range vals {
		if _, missing := v.(value.Missing); !missing {
			present = append(present, v)
		}
	}
	switch a.op {
	case "$sum":
		return expr.Sum(vals), nil
	case "$count":
		return int32(len(vals)), nil
	case "$avg":
		return expr.Avg(vals), nil
	case "$max":
		return expr.Extreme(vals, 1), nil
	case "$min":
		return expr.Extreme(vals, -1), nil
	case "$first", "$last":
		if len(vals) == 0 {
			return nil, nil
		}
		v := vals[0]
		if a.op == "$last" {
			v = vals[len(vals)-1]
		}
		if _, missing := v.(value.Missing); missing {
			return nil, nil
		}
		return v, nil
	case "$push":
		return bson.A(present), nil
	case "$addToSet":
		seen := map[string]bool{}
		out := bson.A{}
		for _, v := range present {
			if k := value.KeyWith(v, a.coll); !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		return out, nil
	case "$mergeObjects":
		return expr.MergeObjects(vals)
	case "$stdDevPop", "$stdDevSamp":
		return stdDev(vals, a.op == "$stdDevSamp"), nil
	}
	return nil, mongoerr.New(15952, "unknown group operator '%s'", a.op)
}

func stdDev(vals []any, sample bool) any {
	var nums []float64
	for _, v := range vals {
		if value.IsNumber(v) {
			f, _ := value.ToFloat(v)
			nums = append(nums, f)
		}
	}
	n := float64(len(nums))
	if n == 0 || (sample && n < 2) {
		return nil
	}
	mean := 0.0
	for _, f := range nums {
		mean += f
	}
	mean /= n
	ss := 0.0
	for _, f := range nums {
		ss += (f - mean) * (f - mean)
	}
	if sample {
		return math.Sqrt(ss / (n - 1))
	}
	return math.Sqrt(ss / n)
}

var accumulatorOps = map[string]bool{
	"$sum": true, "$avg": true, "$min": true, "$max": true, "$first": true, "$last": true,
	"$push": true, "$addToSet": true, "$mergeObjects": true, "$count": true,
	"$stdDevPop": true, "$stdDevSamp": true,
}

// unsupportedAccumulators are real accumulators the emulator does not run.
var unsupportedAccumulators = map[string]bool{
	"$accumulator": true, "$firstN": true, "$lastN": true, "$maxN": true, "$minN": true,
	"$top": true, "$topN": true, "$bottom": true, "$bottomN": true, "$median": true, "$percentile": true,
}

// parseAccumulators parses the output fields of $group and $bucket.
func parseAccumulators(fields bson.D) ([]accumulator, error) {
	var out []accumulator
	for _, e := range fields {
		if strings.HasPrefix(e.Key, "$") {
			return nil, mongoerr.New(40236, "The field name '%s' cannot be an operator name", e.Key)
		}
		if strings.Contains(e.Key, ".") {
			return nil, mongoerr.New(40235, "The field name '%s' cannot contain '.'", e.Key)
		}
		spec, ok := value.Doc(e.Value)
		if !ok {
			return nil, mongoerr.New(40234, "The field '%s' must be an accumulator object", e.Key)
		}
		if len(spec) != 1 {
			return nil, mongoerr.New(40238, "The field '%s' must specify one accumulator", e.Key)
		}
		op := spec[0].Key
		if unsupportedAccumulators[op] {
			return nil, mongoerr.New(mongoerr.NotImplemented, "the %s accumulator is not supported by this server", op)
		}
		if !accumulatorOps[op] {
			return nil, mongoerr.New(15952, "unknown group operator '%s'", op)
		}
		arg := spec[0].Value
		if op == "$count" {
			if d, ok := value.Doc(arg); !ok || len(d) != 0 {
				return nil, mongoerr.New(mongoerr.TypeMismatch, "$count takes no arguments, i.e. $count:{}")
			}
			arg = int32(1)
		}
		if _, isArray := arg.(bson.A); isArray {
			return nil, mongoerr.New(40237, "The %s accumulator is a unary operator", op)
		}
		x, err := expr.Compile(arg)
		if err != nil {
			return nil, err
		}
		out = append(out, accumulator{field: e.Key, op: op, arg: x})
	}
	return out, nil
}

// grouper evaluates a $group: documents are bucketed by key in first-seen
// order, each bucket remembering every accumulator argument's values.
type grouper struct {
	id   expr.Expr
	accs []accumulator
	coll value.Collator // groups strings equal under the collation
}

type group struct {
	id   any
	vals [][]any
}

func (g *grouper) run(rc *runCtx, docs []bson.D) ([]bson.D, error) {
	groups, err := g.collect(rc, docs)
	if err != nil {
		return nil, err
	}
	out := make([]bson.D, 0, len(groups))
	for _, gr := range groups {
		doc, err := g.finish(gr)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

func (g *grouper) collect(rc *runCtx, docs []bson.D) ([]*group, error) {
	var order []*group
	index := map[string]*group{}
	for _, d := range docs {
		id, err := g.id.Eval(d, rc.vars)
		if err != nil {
			return nil, err
		}
		if _, missing := id.(value.Missing); missing {
			id = nil
		}
		k := value.KeyWith(id, g.coll)
		gr := index[k]
		if gr == nil {
			gr = &group{id: id, vals: make([][]any, len(g.accs))}
			index[k] = gr
			order = append(order, gr)
		}
		for i, a := range g.accs {
			v, err := a.arg.Eval(d, rc.vars)
			if err != nil {
				return nil, err
			}
			gr.vals[i] = append(gr.vals[i], v)
		}
	}
	return order, nil
}

func (g *grouper) finish(gr *group) (bson.D, error) {
	doc := bson.D{{Key: "_id", Value: gr.id}}
	for i, a := range g.accs {
		v, err := a.finish(gr.vals[i])
		if err != nil {
			return nil, err
		}
		doc = append(doc, bson.E{Key: a.field, Value: v})
	}
	return doc, nil
}

func parseGroup(c *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(15947, "a group's fields must be specified in an object")
	}
	var idSpec any
	haveID := false
	var rest bson.D
	for _, e := range d {
		if e.Key == "_id" {
			idSpec, haveID = e.Value, true
			continue
		}
		rest = append(rest, e)
	}
	if !haveID {
		return nil, mongoerr.New(15955, "a group specification must include an _id")
	}
	id, err := expr.Compile(idSpec)
	if err != nil {
		return nil, err
	}
	accs, err := parseAccumulators(rest)
	if err != nil {
		return nil, err
	}
	for i := range accs {
		accs[i].coll = c.env.Collator
	}
	return &grouper{id: id, accs: accs, coll: c.env.Collator}, nil
}

func parseCount(_ *compiler, _ string, spec any) (stage, error) {
	name, ok := spec.(string)
	switch {
	case !ok || name == "":
		return nil, mongoerr.New(40156, "the count field must be a non-empty string")
	case strings.HasPrefix(name, "$"):
		return nil, mongoerr.New(40158, "the count field cannot be a $-prefixed path")
	case strings.Contains(name, "\x00"):
		return nil, mongoerr.New(40159, "the count field cannot contain a null byte")
	case strings.Contains(name, "."):
		return nil, mongoerr.New(40160, "the count field cannot contain '.'")
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		if len(docs) == 0 {
			return nil, nil
		}
		return []bson.D{{{Key: name, Value: int32(len(docs))}}}, nil
	}), nil
}

func parseSortByCount(_ *compiler, _ string, spec any) (stage, error) {
	switch x := spec.(type) {
	case string:
		if !strings.HasPrefix(x, "$") {
			return nil, mongoerr.New(40148, "the sortByCount field must be defined as a $-prefixed path or an expression")
		}
	case bson.D, bson.M:
		d, _ := value.Doc(x)
		if len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
			return nil, mongoerr.New(40148, "the sortByCount field must be defined as a $-prefixed path or an expression")
		}
	default:
		return nil, mongoerr.New(40149, "the sortByCount field must be specified as a string or as an object")
	}
	id, err := expr.Compile(spec)
	if err != nil {
		return nil, err
	}
	g := &grouper{id: id, accs: []accumulator{{field: "count", op: "$sum", arg: mustConst(int32(1))}}}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out, err := g.run(rc, docs)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(out, func(a, b bson.D) int {
			return -value.Compare(a[1].Value, b[1].Value)
		})
		return out, nil
	}), nil
}

func mustConst(v any) expr.Expr {
	x, _ := expr.Compile(bson.D{{Key: "$literal", Value: v}})
	return x
}

// literal returns v as expression evaluation would (Go ints become BSON
// integers).
func literal(v any) any {
	r, _ := mustConst(v).Eval(nil, nil)
	return r
}

func parseBucket(_ *compiler, _ string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(40201, "Argument to $bucket stage must be an object, but found type: %s", value.TypeAlias(spec))
	}
	var groupBy expr.Expr
	var boundaries bson.A
	var def any
	haveDefault, haveBoundaries := false, false
	output := bson.D{{Key: "count", Value: bson.D{{Key: "$sum", Value: int32(1)}}}}
	for _, e := range d {
		switch e.Key {
		case "groupBy":
			switch x := e.Value.(type) {
			case string:
				if !strings.HasPrefix(x, "$") {
					return nil, mongoerr.New(40202, "The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression")
				}
			case bson.D, bson.M:
			default:
				return nil, mongoerr.New(40202, "The $bucket 'groupBy' field must be defined as a $-prefixed path or an expression")
			}
			x, err := expr.Compile(e.Value)
			if err != nil {
				return nil, err
			}
			groupBy = x
		case "boundaries":
			a, ok := e.Value.(bson.A)
			if !ok {
				return nil, mongoerr.New(40200, "The $bucket 'boundaries' field must be an array, but found type: %s", value.TypeAlias(e.Value))
			}
			boundaries, haveBoundaries = literal(a).(bson.A), true
		case "default":
			x, err := expr.Compile(e.Value)
			if err != nil {
				return nil, err
			}
			if !expr.IsConstant(x) {
				return nil, mongoerr.New(40195, "The $bucket 'default' field must be a constant expression")
			}
			def, _ = x.Eval(nil, nil)
			haveDefault = true
		case "output":
			o, ok := value.Doc(e.Value)
			if !ok {
				return nil, mongoerr.New(40196, "The $bucket 'output' field must be an object, but found type: %s", value.TypeAlias(e.Value))
			}
			output = o
		default:
			return nil, mongoerr.New(40197, "Unrecognized option to $bucket: %s.", e.Key)
		}
	}
	if groupBy == nil || !haveBoundaries {
		return nil, mongoerr.New(40198, "$bucket requires 'groupBy' and 'boundaries' to be specified.")
	}
	if len(boundaries) < 2 {
		return nil, mongoerr.New(40192, "The $bucket 'boundaries' field must have at least 2 values, but found %d value(s).", len(boundaries))
	}
	for i := 1; i < len(boundaries); i++ {
		if value.Rank(boundaries[i]) != value.Rank(boundaries[0]) {
			return nil, mongoerr.New(40193, "All values in the the 'boundaries' option to $bucket must have the same type.")
		}
		if value.Compare(boundaries[i-1], boundaries[i]) >= 0 {
			return nil, mongoerr.New(40194, "The 'boundaries' option to $bucket must be sorted in ascending order")
		}
	}
	if haveDefault && value.Rank(def) == value.Rank(boundaries[0]) &&
		value.Compare(def, boundaries[0]) >= 0 && value.Compare(def, boundaries[len(boundaries)-1]) < 0 {
		return nil, mongoerr.New(40199, "The $bucket 'default' field must be less than the lowest boundary or greater than or equal to the highest boundary.")
	}
	accs, err := parseAccumulators(output)
	if err != nil {
		return nil, err
	}
	bucketID := expr.Expr(bucketExpr{groupBy: groupBy, boundaries: boundaries, def: def, haveDefault: haveDefault})
	g := &grouper{id: bucketID, accs: accs}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out, err := g.run(rc, docs)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(out, func(a, b bson.D) int { return value.Compare(a[0].Value, b[0].Value) })
		return out, nil
	}), nil
}

// bucketExpr maps a document to its bucket's lower boundary (or default).
type bucketExpr struct {
	groupBy     expr.Expr
	boundaries  bson.A
	def         any
	haveDefault bool
}

func (b bucketExpr) Eval(root bson.D, vars map[string]any) (any, error) {
	v, err := b.groupBy.Eval(root, vars)
	if err != nil {
		return nil, err
	}
	if _, missing := v.(value.Missing); missing {
		v = nil
	}
	if value.Rank(v) == value.Rank(b.boundaries[0]) {
		for i := 0; i+1 < len(b.boundaries); i++ {
			if value.Compare(v, b.boundaries[i]) >= 0 && value.Compare(v, b.boundaries[i+1]) < 0 {
				return b.boundaries[i], nil
			}
		}
	}
	if !b.haveDefault {
		return nil, mongoerr.New(40066, "$switch could not find a matching branch for an input, and no default was specified.")
	}
	return b.def, nil
}
