package query

import (
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Projection is a compiled find projection. It follows MongoDB 7.0's
// projection parser (src/mongo/db/query/projection_parser.cpp) and
// executors: a projection is either an inclusion (only the named fields,
// plus _id unless excluded, plus computed fields) or an exclusion (all but
// the named fields); the positional `$`, $slice and $elemMatch operators
// work with either where MongoDB allows them.
type Projection struct {
	identity  bool // empty spec: the document as it is
	inclusion bool
	root      *pnode
	vars      map[string]any
	post      []postOp // positional and $slice, applied to the projected document in spec order
}

type pkind int

const (
	pPath       pkind = iota // an inner node: {a: {b: …}} or "a.b"
	pInclude                 // a: 1
	pExclude                 // a: 0
	pExpr                    // a computed field: a literal or an aggregation expression
	pElemMatch               // a: {$elemMatch: …}
	pPositional              // "a.$": 1, applied after projecting
	pSlice                   // a: {$slice: …}, applied after projecting
)

type pnode struct {
	kind     pkind
	kids     map[string]*pnode
	order    []string
	computed bool // this node or one below it is pExpr or pElemMatch

	ev      Evaluator // pExpr; nil for a constant
	literal any       // pExpr constant
	elem    *Filter   // pElemMatch: {field: {$elemMatch: …}}
}

func newPathNode() *pnode { return &pnode{kind: pPath, kids: map[string]*pnode{}} }

func (n *pnode) add(name string, kid *pnode) {
	n.kids[name] = kid
	n.order = append(n.order, name)
}

func (n *pnode) remove(name string) {
	delete(n.kids, name)
	for i, k := range n.order {
		if k == name {
			n.order = append(n.order[:i:i], n.order[i+1:]...)
			return
		}
	}
}

// postOp is a positional or $slice projection on path.
type postOp struct {
	path       []string
	positional bool
	skip       *int
	limit      int
}

type projType int

const (
	typeUnknown projType = iota
	typeInclusion
	typeExclusion
)

type projParser struct {
	opts                                  Options
	proj                                  *Projection
	typ                                   projType
	idIncluded                            bool
	hasPositional, hasElemMatch, hasSlice bool
}

// CompileProjection parses a find projection. An empty spec returns
// documents unchanged.
func CompileProjection(spec bson.D, opts Options) (*Projection, error) {
	proj := &Projection{root: newPathNode(), vars: opts.Vars}
	if len(spec) == 0 {
		proj.identity = true
		return proj, nil
	}
	pp := &projParser{opts: opts, proj: proj}
	idSpecified := false
	for _, e := range spec {
		if e.Key == "_id" || strings.HasPrefix(e.Key, "_id.") {
			idSpecified = true
		}
		if err := pp.parseElement(e, nil, proj.root, true); err != nil {
			return nil, err
		}
	}
	if pp.typ == typeUnknown {
		pp.typ = pp.defaultType()
	}
	proj.inclusion = pp.typ == typeInclusion
	if !idSpecified && proj.inclusion {
		proj.root.add("_id", &pnode{kind: pInclude})
	}
	if !proj.inclusion && idSpecified && pp.idIncluded {
		proj.root.remove("_id")
	}
	markComputed(proj.root)
	return proj, nil
}

// defaultType decides projections that name only _id, $slice and
// $elemMatch (computeProjectionType in MongoDB).
func (pp *projParser) defaultType() projType {
	switch {
	case pp.hasSlice:
		if pp.idIncluded {
			return typeInclusion
		}
		return typeExclusion
	case pp.hasElemMatch, pp.idIncluded:
		return typeInclusion
	}
	return typeExclusion
}

func markComputed(n *pnode) bool {
	switch n.kind {
	case pExpr, pElemMatch:
		n.computed = true
	case pPath:
		for _, k := range n.kids {
			if markComputed(k) {
				n.computed = true
			}
		}
	}
	return n.computed
}

func isInclusionOrExclusion(v any) bool {
	switch v.(type) {
	case bool, int, int32, int64, float64, bson.Decimal128:
		return true
	}
	return false
}

func (pp *projParser) parseElement(e bson.E, parentPath []string, parent *pnode, atRoot bool) error {
	positional := strings.HasSuffix(e.Key, ".$")
	if strings.Contains(e.Key, ".$.") {
		return mongoerr.New(31394, "As of 4.4, it's illegal to specify positional operator in the middle of a path."+
			"Positional projection may only be used at the end, for example: a.b.$. If the query "+
			"previously used a form like a.b.$.d, remove the parts following the '$' and the "+
			"results will be equivalent.")
	}
	if d, ok := value.Doc(e.Value); ok {
		if positional {
			return mongoerr.New(31271, "positional projection cannot be used with an expression or sub object")
		}
		return pp.parseSubObject(e.Key, parentPath, d, parent, atRoot)
	}
	if isInclusionOrExclusion(e.Value) {
		if value.Truthy(e.Value) {
			return pp.parseInclusion(e.Key, parentPath, parent, atRoot)
		}
		if positional {
			return mongoerr.New(31395, "positional projection cannot be used with exclusion")
		}
		return pp.parseExclusion(e.Key, parent, atRoot)
	}
	if positional {
		return mongoerr.New(31308, "positional projection cannot be used with a literal")
	}
	return pp.parseLiteral(e, parent)
}

func (pp *projParser) parseInclusion(key string, parentPath []string, parent *pnode, atRoot bool) error {
	topID := key == "_id" && atRoot
	if !strings.HasSuffix(key, ".$") {
		path, err := fieldPath(key)
		if err != nil {
			return err
		}
		if err := addNodeAtPath(parent, path, &pnode{kind: pInclude}); err != nil {
			return err
		}
		if topID {
			pp.idIncluded = true
		}
	} else {
		if pp.hasPositional {
			return mongoerr.New(31276, "Cannot specify more than one positional projection per query.")
		}
		if pp.hasElemMatch {
			return mongoerr.New(31256, "Cannot specify positional operator and $elemMatch.")
		}
		if key == ".$" {
			return mongoerr.New(5392900, "Projection on field .$ is invalid")
		}
		path, err := fieldPath(strings.TrimSuffix(key, ".$"))
		if err != nil {
			return err
		}
		if err := addNodeAtPath(parent, path, &pnode{kind: pPositional}); err != nil {
			return err
		}
		pp.hasPositional = true
		pp.proj.post = append(pp.proj.post, postOp{path: concat(parentPath, path), positional: true})
	}
	if !topID {
		if pp.typ == typeExclusion {
			return mongoerr.New(31253, "Cannot do inclusion on field %s in exclusion projection", key)
		}
		pp.typ = typeInclusion
	}
	return nil
}

func (pp *projParser) parseExclusion(key string, parent *pnode, atRoot bool) error {
	path, err := fieldPath(key)
	if err != nil {
		return err
	}
	if err := addNodeAtPath(parent, path, &pnode{kind: pExclude}); err != nil {
		return err
	}
	if key == "_id" && atRoot {
		return nil
	}
	if pp.typ == typeInclusion {
		return mongoerr.New(31254, "Cannot do exclusion on field %s in inclusion projection", key)
	}
	pp.typ = typeExclusion
	return nil
}

// parseLiteral handles {a: <value>} where the value is neither a number,
// a bool nor a document: since MongoDB 4.4 a computed field, either a
// constant or (for "$path" strings and arrays) an aggregation expression.
func (pp *projParser) parseLiteral(e bson.E, parent *pnode) error {
	n := &pnode{kind: pExpr, literal: e.Value}
	s, isString := e.Value.(string)
	_, isArray := e.Value.(bson.A)
	if (isString && strings.HasPrefix(s, "$")) || isArray {
		if pp.opts.Expr == nil {
			return mongoerr.New(mongoerr.NotImplemented, "computed projection fields are not supported here: no aggregation expression compiler")
		}
		ev, err := pp.opts.Expr(e.Value)
		if err != nil {
			return err
		}
		n.ev = ev
	}
	path, err := fieldPath(e.Key)
	if err != nil {
		return err
	}
	if err := addNodeAtPath(parent, path, n); err != nil {
		return err
	}
	if pp.typ == typeExclusion {
		return mongoerr.New(31310, "Cannot use an expression %s in an exclusion projection", formatElem(e.Key, e.Value))
	}
	pp.typ = typeInclusion
	return nil
}

func (pp *projParser) parseSubObject(name string, parentPath []string, obj bson.D, parent *pnode, atRoot bool) error {
	if len(obj) == 0 {
		return mongoerr.New(51270, "Invalid empty sub-projection: %s", name)
	}
	path, err := fieldPath(name)
	if err != nil {
		return err
	}
	if len(obj) == 1 && strings.HasPrefix(obj[0].Key, "$") {
		return pp.parseOperator(path, parentPath, obj, parent, atRoot)
	}
	inner := lastInnerNode(parent, path)
	if inner == nil {
		inner = newPathNode()
		if err := addNodeAtPath(parent, path, inner); err != nil {
			return err
		}
	}
	full := concat(parentPath, path)
	for _, e := range obj {
		if err := pp.parseElement(e, full, inner, false); err != nil {
			return err
		}
	}
	return nil
}

// parseOperator handles {a: {$op: …}}: the find-only $slice and $elemMatch,
// $meta, or an aggregation expression computing the field.
func (pp *projParser) parseOperator(path, parentPath []string, obj bson.D, parent *pnode, atRoot bool) error {
	op := obj[0]
	switch op.Key {
	case "$slice":
		skip, limit, err := findSlice(op.Value)
		if err == nil {
			if err := addNodeAtPath(parent, path, &pnode{kind: pSlice}); err != nil {
				return err
			}
			pp.hasSlice = true
			pp.proj.post = append(pp.proj.post, postOp{path: concat(parentPath, path), skip: skip, limit: limit})
			return nil
		}
		if pp.opts.Expr == nil {
			return err
		}
		// Not the find() form: MongoDB then tries the aggregation $slice.
		if exprErr := pp.parseExpression(path, obj, parent); exprErr != nil {
			me := mongoerr.As(exprErr)
			if me == nil {
				return exprErr
			}
			fe := mongoerr.As(err)
			return mongoerr.New(me.Code, "Invalid $slice syntax. The given syntax %s did not match the find() syntax because :: %s: %s :: The given syntax did not match the expression $slice syntax. :: caused by :: %s",
				formatValue(obj), fe.Name, fe.Msg, me.Msg)
		}
		return nil
	case "$elemMatch":
		arg, ok := value.Doc(op.Value)
		if !ok {
			return mongoerr.New(31274, "elemMatch: Invalid argument, object required, but got %s", value.TypeAlias(op.Value))
		}
		if pp.hasPositional {
			return mongoerr.New(31255, "Cannot specify positional operator and $elemMatch.")
		}
		if len(path) != 1 || !atRoot {
			return mongoerr.New(31275, "Cannot use $elemMatch projection on a nested field.")
		}
		f, err := (&parser{opts: pp.opts, banSpecial: true}).compile(bson.D{{Key: path[0], Value: bson.D{{Key: "$elemMatch", Value: arg}}}})
		if err != nil {
			return err
		}
		if err := addNodeAtPath(parent, path, &pnode{kind: pElemMatch, elem: f}); err != nil {
			return err
		}
		pp.hasElemMatch = true
		return nil
	case "$meta":
		return mongoerr.New(mongoerr.NotImplemented, "$meta projection is not supported by the emulator")
	}
	return pp.parseExpression(path, obj, parent)
}

func (pp *projParser) parseExpression(path []string, obj bson.D, parent *pnode) error {
	if pp.typ == typeExclusion {
		return mongoerr.New(31252, "Cannot use expression other than $meta in exclusion projection")
	}
	if pp.opts.Expr == nil {
		return mongoerr.New(mongoerr.NotImplemented, "computed projection fields are not supported here: no aggregation expression compiler")
	}
	ev, err := pp.opts.Expr(obj)
	if err != nil {
		if me := mongoerr.As(err); me != nil && me.Code == mongoerr.InvalidPipelineOperator &&
			strings.Contains(me.Msg, "'"+obj[0].Key+"'") {
			// MongoDB parses {a: {$name: …}} as an expression only when it
			// knows $name; otherwise the projection has an unknown expression.
			return mongoerr.New(31325, "Unknown expression %s", obj[0].Key)
		}
		return err
	}
	if pp.typ == typeUnknown {
		pp.typ = typeInclusion
	}
	return addNodeAtPath(parent, path, &pnode{kind: pExpr, ev: ev})
}

// findSlice parses the find() form of $slice: n, or [skip, limit].
func findSlice(arg any) (*int, int, error) {
	if value.IsNumber(arg) {
		return nil, safeInt(arg), nil
	}
	arr, ok := arg.(bson.A)
	if !ok {
		return nil, 0, mongoerr.New(31273, "$slice only supports numbers and [skip, limit] arrays")
	}
	if len(arr) != 2 {
		return nil, 0, mongoerr.New(31272, "$slice array argument should be of form [skip, limit]")
	}
	if !value.IsNumber(arr[0]) {
		return nil, 0, mongoerr.New(31257, "$slice expects the skip argument to be a number, got %s", value.TypeAlias(arr[0]))
	}
	if !value.IsNumber(arr[1]) {
		return nil, 0, mongoerr.New(31258, "$slice expects the limit argument to be a number, got %s", value.TypeAlias(arr[1]))
	}
	limit := safeInt(arr[1])
	if limit <= 0 {
		return nil, 0, mongoerr.New(31259, "$slice limit must be positive, got %d", limit)
	}
	skip := safeInt(arr[0])
	return &skip, limit, nil
}

// safeInt is BSONElement::safeNumberInt: truncate, clamp to int32, NaN is 0.
func safeInt(v any) int {
	f, _ := value.ToFloat(v)
	if i, ok := v.(int64); ok {
		f = float64(max(min(i, math.MaxInt32), math.MinInt32))
	}
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt32:
		return math.MaxInt32
	case f <= math.MinInt32:
		return math.MinInt32
	}
	return int(f)
}

func concat(a, b []string) []string {
	return append(append(make([]string, 0, len(a)+len(b)), a...), b...)
}

// addNodeAtPath inserts kid at path below root, creating inner nodes and
// refusing paths that overlap ones already projected.
func addNodeAtPath(root *pnode, path []string, kid *pnode) error {
	cur := root
	for i, part := range path {
		child := cur.kids[part]
		if i == len(path)-1 {
			if child != nil {
				return mongoerr.New(31250, "Path collision at %s", strings.Join(path, "."))
			}
			cur.add(part, kid)
			return nil
		}
		if child == nil {
			child = newPathNode()
			cur.add(part, child)
		} else if child.kind != pPath {
			return mongoerr.New(31249, "Path collision at %s remaining portion %s", strings.Join(path, "."), strings.Join(path[1:], "."))
		}
		cur = child
	}
	return nil
}

// lastInnerNode returns the inner node at path, or nil.
func lastInnerNode(root *pnode, path []string) *pnode {
	cur := root
	for _, part := range path {
		child := cur.kids[part]
		if child == nil || child.kind != pPath {
			return nil
		}
		cur = child
	}
	return cur
}

// Apply projects doc. elemIndex is MatchElem's result, for the positional `$` projection.
func (p *Projection) Apply(doc bson.D, elemIndex int) (bson.D, error) {
	if p.identity {
		return value.CloneDoc(doc), nil
	}
	var out bson.D
	if p.inclusion {
		out = include(p.root, doc)
	} else {
		out = exclude(p.root, doc)
	}
	if p.root.computed {
		var err error
		if out, err = p.applyExpressions(p.root, doc, out); err != nil {
			return nil, err
		}
	}
	for _, op := range p.post {
		if op.positional {
			var err error
			if out, err = applyPositional(out, op.path, elemIndex); err != nil {
				return nil, err
			}
			continue
		}
		out = applySlice(out, op.path, op.skip, op.limit)
	}
	return compactDoc(out), nil
}

// Projecting leaves value.Missing where MongoDB's executor leaves a
// "missing" Value: a field or array element that keeps its position so a
// computed field can fill it, and that disappears when the document is
// serialized. compactDoc and compactValue drop the ones still left.

func compactDoc(d bson.D) bson.D {
	out := d[:0]
	for _, e := range d {
		if _, missing := e.Value.(value.Missing); missing {
			continue
		}
		out = append(out, bson.E{Key: e.Key, Value: compactValue(e.Value)})
	}
	return out
}

func compactValue(v any) any {
	switch x := v.(type) {
	case bson.D:
		return compactDoc(x)
	case bson.A:
		out := x[:0]
		for _, e := range x {
			if _, missing := e.(value.Missing); !missing {
				out = append(out, compactValue(e))
			}
		}
		return out
	}
	return v
}

// include keeps the fields named by an inclusion projection, in document
// order. Computed fields are added afterwards by applyExpressions.
func include(n *pnode, doc bson.D) bson.D {
	out := bson.D{}
	for _, e := range doc {
		kid := n.kids[e.Key]
		if kid == nil {
			continue
		}
		switch kid.kind {
		case pInclude, pPositional, pSlice:
			out = append(out, bson.E{Key: e.Key, Value: value.Clone(e.Value)})
		case pPath:
			out = append(out, bson.E{Key: e.Key, Value: includeValue(kid, e.Value)})
		}
	}
	return out
}

// includeValue projects a value below an inner node: documents recurse,
// arrays project each element, and anything else becomes missing (so
// {"a.b": 1} turns [1, {b: 2}] into [{b: 2}]).
func includeValue(n *pnode, v any) any {
	if d, ok := value.Doc(v); ok {
		return include(n, d)
	}
	arr, ok := v.(bson.A)
	if !ok {
		return value.Missing{}
	}
	out := make(bson.A, len(arr))
	for i, e := range arr {
		out[i] = includeValue(n, e)
	}
	return out
}

// exclude drops the fields named by an exclusion projection.
func exclude(n *pnode, doc bson.D) bson.D {
	out := make(bson.D, 0, len(doc))
	for _, e := range doc {
		kid := n.kids[e.Key]
		switch {
		case kid == nil:
			out = append(out, bson.E{Key: e.Key, Value: value.Clone(e.Value)})
		case kid.kind == pExclude:
		case kid.kind == pPath:
			out = append(out, bson.E{Key: e.Key, Value: excludeValue(kid, e.Value)})
		default:
			out = append(out, bson.E{Key: e.Key, Value: value.Clone(e.Value)})
		}
	}
	return out
}

func excludeValue(n *pnode, v any) any {
	if d, ok := value.Doc(v); ok {
		return exclude(n, d)
	}
	arr, ok := v.(bson.A)
	if !ok {
		return value.Clone(v)
	}
	out := make(bson.A, len(arr))
	for i, e := range arr {
		out[i] = excludeValue(n, e)
	}
	return out
}

// applyExpressions sets the computed fields below n on out, in spec order,
// evaluating them against the whole input document root. A field already
// present is replaced in place; a missing result removes the field.
func (p *Projection) applyExpressions(n *pnode, root, out bson.D) (bson.D, error) {
	for _, name := range n.order {
		kid := n.kids[name]
		if !kid.computed {
			continue
		}
		var v any
		switch kid.kind {
		case pExpr:
			if kid.ev == nil {
				v = value.Clone(kid.literal)
				break
			}
			r, err := kid.ev.Eval(root, p.vars)
			if err != nil {
				return nil, err
			}
			v = value.Clone(r)
		case pElemMatch:
			v = elemMatchProjection(kid.elem, root, name)
		case pPath:
			cur, ok := value.Lookup(out, name)
			if !ok {
				cur = value.Missing{}
			}
			var err error
			if v, err = p.applyExpressionsToValue(kid, root, cur); err != nil {
				return nil, err
			}
		}
		out = setField(out, name, v)
	}
	return out, nil
}

func (p *Projection) applyExpressionsToValue(n *pnode, root bson.D, v any) (any, error) {
	if d, ok := value.Doc(v); ok {
		return p.applyExpressions(n, root, d)
	}
	if arr, ok := v.(bson.A); ok {
		out := make(bson.A, len(arr))
		for i, e := range arr {
			x, err := p.applyExpressionsToValue(n, root, e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
	// {"a.b": <expr>} on {a: 1} or {} yields {a: {b: …}}, and it overwrites
	// the scalars of an array: ["x", {}] becomes [{b: …}, {b: …}].
	return p.applyExpressions(n, root, bson.D{})
}

// elemMatchProjection returns [first matching element] of the top-level
// array field, or value.Missing when nothing matches.
func elemMatchProjection(f *Filter, root bson.D, field string) any {
	ok, idx, _ := f.MatchElem(root)
	if !ok || idx < 0 {
		return value.Missing{}
	}
	arr, _ := value.Lookup(root, field)
	a, isArr := arr.(bson.A)
	if !isArr || idx >= len(a) {
		return value.Missing{}
	}
	return bson.A{value.Clone(a[idx])}
}

// setField replaces name in place or appends it; a missing value is only
// recorded over an existing field, which compactDoc later drops.
func setField(d bson.D, name string, v any) bson.D {
	for i, e := range d {
		if e.Key == name {
			d[i].Value = v
			return d
		}
	}
	if _, missing := v.(value.Missing); missing {
		return d
	}
	return append(d, bson.E{Key: name, Value: v})
}

// applyPositional replaces the first array on path with [its element at
// elemIndex] (applyPositionalProjection in find_projection_executor.cpp).
// Documents without an array on the path are left alone.
func applyPositional(out bson.D, path []string, elemIndex int) (bson.D, error) {
	cur := out
	for i, part := range path {
		v, ok := value.Lookup(cur, part)
		if !ok {
			return out, nil
		}
		if arr, isArr := v.(bson.A); isArr {
			if elemIndex < 0 {
				return nil, mongoerr.New(51246, "positional operator '.$' couldn't find a matching element in the array")
			}
			if elemIndex >= len(arr) {
				return nil, mongoerr.New(51247, "positional operator '.$' element mismatch")
			}
			setNested(out, path[:i+1], bson.A{arr[elemIndex]})
			return out, nil
		}
		d, isDoc := value.Doc(v)
		if !isDoc {
			return out, nil
		}
		cur = d
	}
	return out, nil
}

// setNested replaces the value at path, whose prefix is known to be
// documents, in place.
func setNested(d bson.D, path []string, v any) {
	for i := range d {
		if d[i].Key != path[0] {
			continue
		}
		if len(path) == 1 {
			d[i].Value = v
			return
		}
		if sub, ok := d[i].Value.(bson.D); ok {
			setNested(sub, path[1:], v)
		}
		return
	}
}

// applySlice is the find() $slice (applySliceProjection): it slices the
// array at path, descending through documents and through arrays of
// documents on the way.
func applySlice(d bson.D, path []string, skip *int, limit int) bson.D {
	for i, e := range d {
		if e.Key != path[0] {
			continue
		}
		switch x := e.Value.(type) {
		case bson.A:
			if len(path) == 1 {
				d[i].Value = sliceArray(x, skip, limit)
				break
			}
			out := make(bson.A, len(x))
			for j, el := range x {
				if sub, ok := value.Doc(el); ok {
					out[j] = applySlice(sub, path[1:], skip, limit)
				} else {
					out[j] = el
				}
			}
			d[i].Value = out
		default:
			if sub, ok := value.Doc(x); ok && len(path) > 1 {
				d[i].Value = applySlice(sub, path[1:], skip, limit)
			}
		}
		return d
	}
	return d
}

func sliceArray(arr bson.A, skip *int, limit int) bson.A {
	n := len(arr)
	var start, count int
	switch {
	case skip == nil && limit < 0:
		start = max(0, n+limit)
		count = n - start
	case skip == nil:
		count = min(n, limit)
	case *skip < 0:
		start = max(0, n+*skip)
		count = min(n-start, limit)
	default:
		start = min(n, *skip)
		count = min(n-start, limit)
	}
	return append(bson.A{}, arr[start:start+count]...)
}
