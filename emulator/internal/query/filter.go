// Package query is MongoDB's query language over bson.D documents, as the
// emulator needs it for find, update, delete, count, distinct and $match:
// compiled filters with MongoDB 7.0's implicit array traversal and type
// bracketing, sort specifications with MongoDB's array sort keys, and find
// projections (inclusion, exclusion, positional `$`, $elemMatch, $slice and
// computed fields).
//
// Errors are *mongoerr.Error carrying the code a real server answers with.
// Aggregation expressions ($expr, computed projection fields) are compiled
// by the caller through Options.Expr, so this package does not depend on the
// expression engine.
//
// Server-side JavaScript ($where) is refused the way a mongod started with
// --noscripting refuses it; text search and geospatial operators answer
// NotImplemented.
package query

import (
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Evaluator is a compiled aggregation expression.
type Evaluator interface {
	Eval(root bson.D, vars map[string]any) (any, error)
}

// Options configures compilation.
type Options struct {
	// Vars are the $$name variables for $expr and computed projection
	// fields, from the command's `let`; may be nil.
	Vars map[string]any
	// Expr compiles an aggregation expression. When nil, $expr and computed
	// projection fields fail with NotImplemented.
	Expr func(expr any) (Evaluator, error)
	// Collator orders strings for equality, range and $in predicates
	// under a collation (MongoDB manual, "Collation"); nil is binary.
	// $regex, $jsonSchema and field names ignore it, as in MongoDB.
	Collator value.Collator
}

// Filter is a compiled query predicate. It is safe for concurrent use.
type Filter struct {
	root  node
	id    any
	hasID bool
}

// Compile parses a query filter. A nil or empty filter matches every
// document.
func Compile(filter bson.D, opts Options) (*Filter, error) {
	return (&parser{opts: opts}).compile(filter)
}

func (p *parser) compile(filter bson.D) (*Filter, error) {
	root, err := p.parseDoc(filter, false)
	if err != nil {
		return nil, err
	}
	f := &Filter{root: optimize(root)}
	f.id, f.hasID = idValue(filter)
	if f.hasID && p.opts.Collator != nil && hasString(f.id) {
		// Under a collation, string _id values equal in the collation
		// but not in bytes must match too, so no binary _id lookup.
		f.id, f.hasID = nil, false
	}
	return f, nil
}

// Match reports whether doc satisfies the filter. Errors come only from
// evaluating $expr.
func (f *Filter) Match(doc bson.D) (bool, error) {
	return f.root.match(doc, nil)
}

// MatchElem also returns the index of the array element that satisfied the first
// array traversal on the matching path (what the positional `$` update/projection
// operator uses), or -1 when no array was traversed.
func (f *Filter) MatchElem(doc bson.D) (ok bool, elemIndex int, err error) {
	d := &details{key: -1}
	ok, err = f.root.match(doc, d)
	if !ok || err != nil {
		return false, -1, err
	}
	return true, d.key, nil
}

// IDValue reports whether the filter has, at its top level, _id: <v> or _id: {$eq: v} with v
// not a document with $-operators, not a regex, not an array: every document it matches then
// has that _id, so the caller can look the _id up in the _id index and match the whole filter
// against the one document found, as MongoDB's planner does with the _id index.
func (f *Filter) IDValue() (any, bool) { return f.id, f.hasID }

func idValue(filter bson.D) (any, bool) {
	at := -1
	for i, e := range filter {
		if e.Key != "_id" {
			continue
		}
		if at >= 0 {
			return nil, false
		}
		at = i
	}
	if at < 0 {
		return nil, false
	}
	v := filter[at].Value
	if d, ok := value.Doc(v); ok && isExpressionDoc(d, false) {
		if len(d) != 1 || d[0].Key != "$eq" {
			return nil, false
		}
		v = d[0].Value
		if d, ok := value.Doc(v); ok && isExpressionDoc(d, false) {
			return nil, false
		}
	}
	switch v.(type) {
	case bson.Regex, bson.A, bson.Undefined:
		return nil, false
	}
	return v, true
}

func hasString(v any) bool {
	switch x := v.(type) {
	case string, bson.Symbol:
		return true
	case bson.D:
		for _, e := range x {
			if hasString(e.Value) {
				return true
			}
		}
	case bson.A:
		for _, e := range x {
			if hasString(e) {
				return true
			}
		}
	}
	return false
}

type parser struct {
	opts Options
	// banSpecial forbids $expr, $where, $text and $jsonSchema, as MongoDB
	// does for the query inside an $elemMatch projection.
	banSpecial bool
}

// parseDoc parses a query document. sub is true below $elemMatch, where the
// operators that need the whole document are not allowed.
func (p *parser) parseDoc(filter bson.D, sub bool) (node, error) {
	var kids []node
	for _, e := range filter {
		if strings.HasPrefix(e.Key, "$") {
			n, err := p.parseTopOperator(e, sub)
			if err != nil {
				return nil, err
			}
			if n != nil {
				kids = append(kids, n)
			}
			continue
		}
		if d, ok := value.Doc(e.Value); ok && isExpressionDoc(d, false) {
			ns, err := p.parseOperators(e.Key, d, sub)
			if err != nil {
				return nil, err
			}
			kids = append(kids, ns...)
			continue
		}
		if r, ok := e.Value.(bson.Regex); ok {
			n, err := regexNode(e.Key, r.Pattern, r.Options)
			if err != nil {
				return nil, err
			}
			kids = append(kids, n)
			continue
		}
		n, err := p.comparisonNode(e.Key, opEQ, e.Value)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return &andNode{kids: kids}, nil
}

// pathlessOperators are the top-level operators; in $elemMatch they force
// the query (rather than the per-value operator) form.
var pathlessOperators = map[string]bool{
	"$and": true, "$or": true, "$nor": true, "$comment": true, "$expr": true,
	"$where": true, "$text": true, "$jsonSchema": true, "$alwaysTrue": true,
	"$alwaysFalse": true, "$sampleRate": true, "$id": true, "$ref": true, "$db": true,
}

func (p *parser) parseTopOperator(e bson.E, sub bool) (node, error) {
	switch e.Key {
	case "$and", "$or", "$nor":
		return p.parseTree(e, sub)
	case "$comment":
		return nil, nil
	case "$expr":
		switch {
		case sub:
			return nil, mongoerr.New(mongoerr.BadValue, "$expr can only be applied to the top-level document")
		case p.banSpecial:
			return nil, featureNotAllowed("$expr is not allowed in this context")
		case p.opts.Expr == nil:
			return nil, mongoerr.New(mongoerr.NotImplemented, "$expr is not supported here: no aggregation expression compiler")
		}
		ev, err := p.opts.Expr(e.Value)
		if err != nil {
			return nil, err
		}
		return &exprNode{ev: ev, vars: p.opts.Vars}, nil
	case "$where":
		switch {
		case p.banSpecial:
			return nil, mongoerr.New(mongoerr.BadValue, "$where is not allowed in this context")
		case sub:
			return nil, mongoerr.New(mongoerr.BadValue, "$where can only be applied to the top-level document")
		}
		// The emulator never runs server-side JavaScript; answer like a
		// mongod started with --noscripting (src/mongo/scripting/js_function.cpp).
		return nil, mongoerr.New(codeNoScriptEngine, "no globalScriptEngine in $where parsing")
	case "$text":
		switch {
		case sub:
			return nil, mongoerr.New(mongoerr.BadValue, "$text can only be applied to the top-level document")
		case p.banSpecial:
			return nil, mongoerr.New(mongoerr.BadValue, "$text is not allowed in this context")
		}
		return nil, mongoerr.New(mongoerr.NotImplemented, "$text (text search) is not supported by the emulator")
	case "$jsonSchema":
		if p.banSpecial {
			return nil, featureNotAllowed("$jsonSchema is not allowed in this context")
		}
		d, ok := value.Doc(e.Value)
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "$jsonSchema must be an object")
		}
		return parseSchema(d)
	case "$alwaysTrue", "$alwaysFalse":
		n, reason := intArg(e.Key, e.Value)
		if reason != "" {
			return nil, mongoerr.New(mongoerr.FailedToParse, "%s", reason)
		}
		if n != 1 {
			return nil, mongoerr.New(mongoerr.FailedToParse, "%s must be an integer value of 1", e.Key)
		}
		return constNode(e.Key == "$alwaysTrue"), nil
	case "$sampleRate":
		if sub {
			return nil, mongoerr.New(mongoerr.BadValue, "$sampleRate can only be applied to the top-level document")
		}
		f, ok := value.ToFloat(e.Value)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue, "argument to $sampleRate must be a numeric type")
		}
		if !(f >= 0 && f <= 1) {
			return nil, mongoerr.New(mongoerr.BadValue, "numeric argument to $sampleRate must be in [0, 1]")
		}
		return sampleNode(f), nil
	case "$id", "$ref", "$db":
		// DBRef fields queried directly, e.g. {$id: 5} inside $elemMatch.
		return p.comparisonNode(e.Key, opEQ, e.Value)
	}
	hint := ". If you have a field name that starts with a '$' symbol, consider using $getField or $setField."
	if e.Key == "$not" {
		hint = ". If you are trying to negate an entire expression, use $nor."
	}
	return nil, mongoerr.New(mongoerr.BadValue, "unknown top level operator: %s%s", e.Key, hint)
}

func (p *parser) parseTree(e bson.E, sub bool) (node, error) {
	arr, ok := e.Value.(bson.A)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue, "%s must be an array", e.Key)
	}
	if len(arr) == 0 {
		return nil, mongoerr.New(mongoerr.BadValue, "$and/$or/$nor must be a nonempty array")
	}
	kids := make([]node, 0, len(arr))
	for _, x := range arr {
		d, ok := value.Doc(x)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue, "$or/$and/$nor entries need to be full objects")
		}
		n, err := p.parseDoc(d, sub)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	switch e.Key {
	case "$and":
		return &andNode{kids: kids}, nil
	case "$or":
		return &orNode{kids: kids}, nil
	}
	return &norNode{kids: kids}, nil
}

// isExpressionDoc reports whether d is {$op: …} rather than a document to
// compare with: its first field starts with '$' and it is not a DBRef.
func isExpressionDoc(d bson.D, allowIncompleteDBRef bool) bool {
	if len(d) == 0 || !strings.HasPrefix(d[0].Key, "$") {
		return false
	}
	var ref, id, db bool
	for _, e := range d {
		switch e.Key {
		case "$ref":
			ref = true
		case "$id":
			id = true
		case "$db":
			db = true
		}
	}
	if allowIncompleteDBRef {
		return !(ref || id || db)
	}
	return !(ref && id)
}

// parseOperators parses {path: {$op: arg, …}} into one node per operator.
func (p *parser) parseOperators(path string, ops bson.D, sub bool) ([]node, error) {
	var nodes []node
	for _, e := range ops {
		n, err := p.parseOperator(path, ops, e, sub)
		if err != nil {
			return nil, err
		}
		if n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

func geoError(op string) error {
	return mongoerr.New(mongoerr.NotImplemented, "%s (geospatial query) is not supported by the emulator", op)
}

func (p *parser) parseOperator(path string, ops bson.D, e bson.E, sub bool) (node, error) {
	switch e.Key {
	case "$not":
		return p.parseNot(path, e.Value, sub)
	case "$eq":
		return p.comparisonNode(path, opEQ, e.Value)
	case "$lt", "$lte", "$gt", "$gte":
		if _, ok := e.Value.(bson.Regex); ok {
			return nil, mongoerr.New(mongoerr.BadValue, "Can't have RegEx as arg to predicate over field '%s'.", path)
		}
		return p.comparisonNode(path, comparisonOps[e.Key], e.Value)
	case "$ne":
		if _, ok := e.Value.(bson.Regex); ok {
			return nil, mongoerr.New(mongoerr.BadValue, "Can't have regex as arg to $ne.")
		}
		n, err := p.comparisonNode(path, opEQ, e.Value)
		if err != nil {
			return nil, err
		}
		return &notNode{n}, nil
	case "$in", "$nin":
		arr, ok := e.Value.(bson.A)
		if !ok {
			return nil, mongoerr.New(mongoerr.BadValue, "%s needs an array", e.Key)
		}
		n, err := p.inNode(path, arr)
		if err != nil {
			return nil, err
		}
		if e.Key == "$nin" {
			return &notNode{n}, nil
		}
		return n, nil
	case "$exists":
		n := &pathNode{path: splitPath(path), test: pure(existsPred)}
		if value.Truthy(e.Value) {
			return n, nil
		}
		return &notNode{n}, nil
	case "$type":
		ts, err := parseTypeSet(path, e.Value)
		if err != nil {
			return nil, err
		}
		return &pathNode{path: splitPath(path), test: pure(ts.matches)}, nil
	case "$size":
		size, reason := nonNegativeIntArg(e.Key, e.Value)
		if reason != "" {
			return nil, mongoerr.New(mongoerr.BadValue, "Failed to parse $size. %s", reason)
		}
		return &pathNode{path: splitPath(path), mode: leafWhole, test: sizePred(size)}, nil
	case "$mod":
		return modNode(path, e.Value)
	case "$regex":
		return regexDocNode(path, ops)
	case "$options":
		for _, o := range ops {
			if o.Key == "$regex" {
				return nil, nil
			}
		}
		return nil, mongoerr.New(mongoerr.BadValue, "$options needs a $regex")
	case "$elemMatch":
		return p.parseElemMatch(path, e.Value)
	case "$all":
		return p.parseAll(path, e.Value)
	case "$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear":
		return bitsNode(path, e)
	case "$geoWithin", "$within", "$geoIntersects", "$near", "$nearSphere", "$geoNear":
		return nil, geoError(e.Key)
	case "$where":
		return nil, mongoerr.New(mongoerr.BadValue, "$where cannot be applied to a field")
	}
	return nil, mongoerr.New(mongoerr.BadValue, "unknown operator: %s", e.Key)
}

var comparisonOps = map[string]cmpOp{"$lt": opLT, "$lte": opLTE, "$gt": opGT, "$gte": opGTE}

var bitsOps = map[string]bitsOp{
	"$bitsAllSet": bitsAllSet, "$bitsAllClear": bitsAllClear,
	"$bitsAnySet": bitsAnySet, "$bitsAnyClear": bitsAnyClear,
}

func splitPath(path string) []string { return strings.Split(path, ".") }

func (p *parser) comparisonNode(path string, op cmpOp, rhs any) (node, error) {
	if _, ok := rhs.(bson.Undefined); ok {
		return nil, mongoerr.New(mongoerr.BadValue, "cannot compare to undefined")
	}
	coll := p.opts.Collator
	n := &pathNode{path: splitPath(path), test: cmpPred(op, rhs, coll)}
	if _, isRegex := rhs.(bson.Regex); op == opEQ && !isRegex {
		n.in = &inArgs{eqs: []any{rhs}, coll: coll}
	}
	return n, nil
}

func (p *parser) parseNot(path string, arg any, sub bool) (node, error) {
	if r, ok := arg.(bson.Regex); ok {
		n, err := regexNode(path, r.Pattern, r.Options)
		if err != nil {
			return nil, err
		}
		return &notNode{n}, nil
	}
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue, "$not needs a regex or a document")
	}
	if len(d) == 0 {
		return nil, mongoerr.New(mongoerr.BadValue, "$not cannot be empty")
	}
	kids, err := p.parseOperators(path, d, sub)
	if err != nil {
		return nil, err
	}
	return &notNode{&andNode{kids: kids}}, nil
}

func (p *parser) inNode(path string, arr bson.A) (node, error) {
	var eqs []any
	var res []*regexMatcher
	for _, x := range arr {
		if d, ok := value.Doc(x); ok && isExpressionDoc(d, false) {
			return nil, mongoerr.New(mongoerr.BadValue, "cannot nest $ under $in")
		}
		switch r := x.(type) {
		case bson.Regex:
			m, err := compileRegex(r.Pattern, r.Options)
			if err != nil {
				return nil, err
			}
			res = append(res, m)
		case bson.Undefined:
			return nil, mongoerr.New(mongoerr.BadValue, "InMatchExpression equality cannot be undefined")
		default:
			eqs = append(eqs, x)
		}
	}
	args := &inArgs{eqs: eqs, res: res, coll: p.opts.Collator}
	return &pathNode{path: splitPath(path), test: inPred(args), in: args}, nil
}

func compileRegex(pattern, options string) (*regexMatcher, error) {
	re, err := value.CompileRegex(pattern, options)
	var oe *value.RegexOptionError
	if errors.As(err, &oe) {
		return nil, mongoerr.New(codeRegexOptions, "%s", oe.Error())
	}
	if strings.ContainsRune(pattern, 0) {
		return nil, mongoerr.New(mongoerr.BadValue, "Regular expression cannot contain an embedded null byte")
	}
	if err != nil {
		return nil, mongoerr.New(codeRegexInvalid, "Regular expression is invalid: %v", err)
	}
	return &regexMatcher{pattern: pattern, options: options, re: re}, nil
}

func regexNode(path, pattern, options string) (node, error) {
	m, err := compileRegex(pattern, options)
	if err != nil {
		return nil, err
	}
	return &pathNode{path: splitPath(path), test: pure(m.matches), in: &inArgs{res: []*regexMatcher{m}}}, nil
}

// regexDocNode parses {$regex: …, $options: …} from the whole operator
// document, since $options may come before or after $regex.
func regexDocNode(path string, ops bson.D) (node, error) {
	var pattern, options string
	for _, e := range ops {
		switch e.Key {
		case "$regex":
			switch x := e.Value.(type) {
			case string:
				pattern = x
			case bson.Regex:
				pattern = x.Pattern
				if x.Options != "" {
					if options != "" {
						return nil, mongoerr.New(codeRegexOptionsTwiceA, "options set in both $regex and $options")
					}
					options = x.Options
				}
			default:
				return nil, mongoerr.New(mongoerr.BadValue, "$regex has to be a string")
			}
		case "$options":
			s, ok := e.Value.(string)
			if !ok {
				return nil, mongoerr.New(mongoerr.BadValue, "$options has to be a string")
			}
			if options != "" {
				return nil, mongoerr.New(codeRegexOptionsTwiceB, "options set in both $regex and $options")
			}
			options = s
		}
	}
	return regexNode(path, pattern, options)
}

func modNode(path string, arg any) (node, error) {
	arr, ok := arg.(bson.A)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, needs to be an array")
	}
	if len(arr) < 2 {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, not enough elements")
	}
	if !value.IsNumber(arr[0]) {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, divisor not a number")
	}
	if !value.IsNumber(arr[1]) {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, remainder not a number")
	}
	if len(arr) > 2 {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, too many elements")
	}
	divisor, reason := coerceInt64(arr[0])
	if reason != "" {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, divisor value is invalid :: caused by :: %s", reason)
	}
	remainder, reason := coerceInt64(arr[1])
	if reason != "" {
		return nil, mongoerr.New(mongoerr.BadValue, "malformed mod, remainder value is invalid :: caused by :: %s", reason)
	}
	if divisor == 0 {
		return nil, mongoerr.New(mongoerr.BadValue, "divisor cannot be 0")
	}
	return &pathNode{path: splitPath(path), test: modPred(divisor, remainder)}, nil
}

// parseTypeSet parses the argument of $type: a type number, an alias,
// "number", or an array of these (src/mongo/db/matcher/matcher_type_set.cpp).
func parseTypeSet(path string, arg any) (*typeSet, error) {
	ts := &typeSet{codes: map[int32]bool{}}
	add := func(x any) error {
		switch t := x.(type) {
		case string:
			if t == "number" {
				ts.numbers = true
				return nil
			}
			if t == "missing" {
				return mongoerr.New(mongoerr.BadValue, "'missing' is not a legal type name. To query for non-existence of a field, use {$exists:false}.")
			}
			n, ok := value.AliasNumber(t)
			if !ok {
				return mongoerr.New(mongoerr.BadValue, "Unknown type name alias: %s", t)
			}
			ts.codes[n] = true
			return nil
		}
		if !value.IsNumber(x) {
			return mongoerr.New(mongoerr.TypeMismatch, "type must be represented as a number or a string")
		}
		n, reason := intArg("$type", x)
		if reason != "" || n < -1<<31 || n >= 1<<31 {
			return mongoerr.New(mongoerr.BadValue, "Invalid numerical type code: %s", formatValue(x))
		}
		switch {
		case n == 0:
			return mongoerr.New(mongoerr.BadValue, "Invalid numerical type code: %s. Instead use {$exists:false}.", formatValue(x))
		case n == -1 || n == 127 || (n >= 1 && n <= 19):
			ts.codes[int32(n)] = true
			return nil
		}
		return mongoerr.New(mongoerr.BadValue, "Invalid numerical type code: %s", formatValue(x))
	}
	arr, isArr := arg.(bson.A)
	if !isArr {
		arr = bson.A{arg}
	}
	for _, x := range arr {
		if err := add(x); err != nil {
			return nil, err
		}
	}
	if !ts.numbers && len(ts.codes) == 0 {
		return nil, mongoerr.New(mongoerr.FailedToParse, "%s must match at least one type", path)
	}
	return ts, nil
}

func (p *parser) parseElemMatch(path string, arg any) (node, error) {
	d, ok := value.Doc(arg)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue, "$elemMatch needs an Object")
	}
	if isExpressionDoc(d, true) && !pathlessOperators[d[0].Key] {
		subs, err := p.parseOperators("", d, true)
		if err != nil {
			return nil, err
		}
		return &pathNode{path: splitPath(path), mode: leafWhole, test: elemMatchValue(subs)}, nil
	}
	sub, err := p.parseDoc(d, true)
	if err != nil {
		return nil, err
	}
	return &pathNode{path: splitPath(path), mode: leafWhole, test: elemMatchObject(sub)}, nil
}

func (p *parser) parseAll(path string, arg any) (node, error) {
	arr, ok := arg.(bson.A)
	if !ok {
		return nil, mongoerr.New(mongoerr.BadValue, "$all needs an array")
	}
	if len(arr) == 0 {
		return constNode(false), nil
	}
	var kids []node
	if first, ok := value.Doc(arr[0]); ok && len(first) > 0 && first[0].Key == "$elemMatch" {
		for _, x := range arr {
			d, ok := value.Doc(x)
			if !ok || len(d) == 0 || d[0].Key != "$elemMatch" {
				return nil, mongoerr.New(mongoerr.BadValue, "$all/$elemMatch has to be consistent")
			}
			n, err := p.parseElemMatch(path, d[0].Value)
			if err != nil {
				return nil, err
			}
			kids = append(kids, n)
		}
		return &andNode{kids: kids}, nil
	}
	for _, x := range arr {
		if r, ok := x.(bson.Regex); ok {
			n, err := regexNode(path, r.Pattern, r.Options)
			if err != nil {
				return nil, err
			}
			kids = append(kids, n)
			continue
		}
		if d, ok := value.Doc(x); ok && len(d) > 0 && isQueryOperator(d[0].Key) {
			return nil, mongoerr.New(mongoerr.BadValue, "no $ expressions in $all")
		}
		n, err := p.comparisonNode(path, opEQ, x)
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	return &andNode{kids: kids}, nil
}

// isQueryOperator reports whether name is a field-level query operator.
func isQueryOperator(name string) bool {
	switch name {
	case "$all", "$bitsAllClear", "$bitsAllSet", "$bitsAnyClear", "$bitsAnySet",
		"$elemMatch", "$eq", "$exists", "$geoIntersects", "$geoNear", "$geoWithin",
		"$gt", "$gte", "$in", "$lt", "$lte", "$mod", "$ne", "$near", "$nearSphere",
		"$nin", "$options", "$regex", "$size", "$type", "$within":
		return true
	}
	return false
}

func bitsNode(path string, e bson.E) (node, error) {
	b := &bitsTest{op: bitsOps[e.Key]}
	switch x := e.Value.(type) {
	case bson.A:
		for _, pos := range x {
			n, reason := nonNegativeIntArg("", pos)
			if reason != "" {
				return nil, mongoerr.New(mongoerr.BadValue, "Failed to parse bit position. %s", reason)
			}
			b.positions = append(b.positions, uint32(n))
			b.mask |= 1 << min(n, 63)
		}
	case bson.Binary:
		for i, byt := range x.Data {
			for bit := 0; bit < 8; bit++ {
				if byt&(1<<bit) == 0 {
					continue
				}
				pos := 8*i + bit
				b.positions = append(b.positions, uint32(pos))
				b.mask |= 1 << min(pos, 63)
			}
		}
	default:
		if !value.IsNumber(x) {
			return nil, mongoerr.New(mongoerr.BadValue, "%s takes an Array, a number, or a BinData but received: %s", path, formatElem(e.Key, x))
		}
		n, reason := intArg(e.Key, x)
		if reason == "" && n < 0 {
			reason = "Expected a non-negative number in: " + formatElem(e.Key, x)
		}
		if reason != "" {
			return nil, mongoerr.New(mongoerr.FailedToParse, "%s", reason)
		}
		b.mask = uint64(n)
		for bit := 0; bit < 64; bit++ {
			if b.mask&(1<<bit) != 0 {
				b.positions = append(b.positions, uint32(bit))
			}
		}
	}
	return &pathNode{path: splitPath(path), test: pure(b.matches)}, nil
}
