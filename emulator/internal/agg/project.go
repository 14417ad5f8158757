package agg

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/expr"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	stageParsers["$project"] = parseProject
	stageParsers["$addFields"] = parseAddFields
	stageParsers["$set"] = parseAddFields
	stageParsers["$unset"] = parseUnset
}

// projNode is one level of a projection tree. A leaf either includes or
// excludes its field (include) or computes it (expr); inner nodes have
// children, kept in specification order.
type projNode struct {
	children map[string]*projNode
	order    []string
	leaf     bool
	include  bool
	expr     expr.Expr
}

func newNode() *projNode { return &projNode{children: map[string]*projNode{}} }

// add places a leaf at path, failing on collisions as projection_ast does.
func (n *projNode) add(path string, leaf *projNode) error {
	segs := strings.Split(path, ".")
	cur := n
	for i, seg := range segs {
		child := cur.children[seg]
		if i == len(segs)-1 {
			if child != nil {
				return mongoerr.New(31250, "Path collision at %s", path)
			}
			cur.children[seg] = leaf
			cur.order = append(cur.order, seg)
			return nil
		}
		if child == nil {
			child = newNode()
			cur.children[seg] = child
			cur.order = append(cur.order, seg)
		} else if child.leaf {
			return mongoerr.New(31249, "Path collision at %s remaining portion %s", path, strings.Join(segs[i+1:], "."))
		}
		cur = child
	}
	return nil
}

func (n *projNode) hasComputed() bool {
	for _, c := range n.children {
		if c.expr != nil || (!c.leaf && c.hasComputed()) {
			return true
		}
	}
	return false
}

type projMode int

const (
	modeNone projMode = iota
	modeInclusion
	modeExclusion
)

// projection is a parsed $project.
type projection struct {
	root *projNode
	mode projMode
}

func parseProject(_ *compiler, name string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(15969, "$project specification must be an object")
	}
	p, err := compileProjection(d)
	if err != nil {
		return nil, prefixed(name, err)
	}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out := make([]bson.D, len(docs))
		for i, doc := range docs {
			r, err := p.apply(doc, rc.vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}), nil
}

func compileProjection(spec bson.D) (*projection, error) {
	if len(spec) == 0 {
		return nil, mongoerr.New(51272, "projection specification must have at least one field")
	}
	p := &projection{root: newNode()}
	idSpecified := false
	if err := p.parse(spec, "", &idSpecified); err != nil {
		return nil, err
	}
	if p.mode == modeNone {
		p.mode = modeExclusion
	}
	if p.mode == modeInclusion && !idSpecified {
		if err := p.root.add("_id", &projNode{leaf: true, include: true}); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *projection) parse(spec bson.D, prefix string, idSpecified *bool) error {
	for _, e := range spec {
		if strings.HasPrefix(e.Key, "$") {
			return mongoerr.New(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
		}
		path := e.Key
		if prefix != "" {
			path = prefix + "." + e.Key
		}
		if err := expr.ValidatePath(path); err != nil {
			return err
		}
		if path == "_id" || strings.HasPrefix(path, "_id.") {
			*idSpecified = true
		}
		switch v := e.Value.(type) {
		case bool, int32, int64, float64, bson.Decimal128, int:
			include := value.Truthy(v)
			if v, isInt := v.(int); isInt {
				include = v != 0
			}
			if include {
				if p.mode == modeExclusion {
					return mongoerr.New(31253, "Cannot do inclusion on field %s in exclusion projection", path)
				}
				p.mode = modeInclusion
			} else if path != "_id" {
				if p.mode == modeInclusion {
					return mongoerr.New(31254, "Cannot do exclusion on field %s in inclusion projection", path)
				}
				p.mode = modeExclusion
			}
			if err := p.root.add(path, &projNode{leaf: true, include: include}); err != nil {
				return err
			}
			continue
		case bson.D, bson.M:
			sub, _ := value.Doc(v)
			if len(sub) == 0 {
				return mongoerr.New(51270, "An empty sub-projection is not a valid value. Found empty object at path %s", path)
			}
			if !strings.HasPrefix(sub[0].Key, "$") {
				if err := p.parse(sub, path, idSpecified); err != nil {
					return err
				}
				continue
			}
		}
		if p.mode == modeExclusion {
			return mongoerr.New(31252, "Cannot use expression other than $meta in exclusion projection")
		}
		p.mode = modeInclusion
		x, err := expr.Compile(e.Value)
		if err != nil {
			return err
		}
		if err := p.root.add(path, &projNode{leaf: true, expr: x}); err != nil {
			return err
		}
	}
	return nil
}

func (p *projection) apply(doc bson.D, vars map[string]any) (bson.D, error) {
	if p.mode == modeExclusion {
		return exclude(p.root, doc), nil
	}
	out, err := include(p.root, doc, doc, vars)
	if err != nil {
		return nil, err
	}
	// A computed _id still leads the document, as on the server.
	for i, e := range out {
		if e.Key == "_id" && i > 0 {
			return append(bson.D{e}, append(out[:i:i], out[i+1:]...)...), nil
		}
	}
	return out, nil
}

// include applies an inclusion projection level: included fields in the
// document's order, then computed fields in specification order.
func include(n *projNode, d, root bson.D, vars map[string]any) (bson.D, error) {
	out := bson.D{}
	present := map[string]bool{}
	for _, e := range d {
		child := n.children[e.Key]
		if child == nil || child.expr != nil {
			continue
		}
		if child.leaf {
			if child.include {
				out = append(out, e)
				present[e.Key] = true
			}
			continue
		}
		v, keep, err := includeValue(child, e.Value, root, vars)
		if err != nil {
			return nil, err
		}
		if keep {
			out = append(out, bson.E{Key: e.Key, Value: v})
			present[e.Key] = true
		}
	}
	for _, name := range n.order {
		child := n.children[name]
		switch {
		case child.expr != nil:
			v, err := child.expr.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			if _, missing := v.(value.Missing); missing {
				continue
			}
			out = append(out, bson.E{Key: name, Value: v})
		case !child.leaf && !present[name] && child.hasComputed():
			if _, inInput := value.Lookup(d, name); inInput {
				continue
			}
			sub, err := include(child, bson.D{}, root, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, bson.E{Key: name, Value: sub})
		}
	}
	return out, nil
}

func includeValue(n *projNode, v any, root bson.D, vars map[string]any) (any, bool, error) {
	switch x := v.(type) {
	case bson.D, bson.M:
		doc, _ := value.Doc(x)
		r, err := include(n, doc, root, vars)
		return r, true, err
	case bson.A:
		out := bson.A{}
		for _, el := range x {
			r, keep, err := includeValue(n, el, root, vars)
			if err != nil {
				return nil, false, err
			}
			if keep {
				out = append(out, r)
			}
		}
		return out, true, nil
	}
	if n.hasComputed() {
		r, err := include(n, bson.D{}, root, vars)
		return r, true, err
	}
	return nil, false, nil
}

// exclude applies an exclusion projection level.
func exclude(n *projNode, d bson.D) bson.D {
	out := make(bson.D, 0, len(d))
	for _, e := range d {
		child := n.children[e.Key]
		switch {
		case child == nil:
			out = append(out, e)
		case child.leaf:
		default:
			out = append(out, bson.E{Key: e.Key, Value: excludeValue(child, e.Value)})
		}
	}
	return out
}

func excludeValue(n *projNode, v any) any {
	switch x := v.(type) {
	case bson.D, bson.M:
		doc, _ := value.Doc(x)
		return exclude(n, doc)
	case bson.A:
		out := make(bson.A, len(x))
		for i, el := range x {
			out[i] = excludeValue(n, el)
		}
		return out
	}
	return v
}

// parseAddFields handles $addFields and its alias $set: every field is an
// expression (nested plain objects address sub-fields).
func parseAddFields(_ *compiler, name string, spec any) (stage, error) {
	d, ok := value.Doc(spec)
	if !ok {
		return nil, mongoerr.New(40272, "%s specification stage must be an object, got %s", name, value.TypeAlias(spec))
	}
	root := newNode()
	if err := parseComputed(root, d, ""); err != nil {
		return nil, prefixed(name, err)
	}
	return stageFunc(func(rc *runCtx, docs []bson.D) ([]bson.D, error) {
		out := make([]bson.D, len(docs))
		for i, doc := range docs {
			r, err := addFields(root, doc, doc, rc.vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}), nil
}

func parseComputed(n *projNode, spec bson.D, prefix string) error {
	for _, e := range spec {
		if strings.HasPrefix(e.Key, "$") {
			return mongoerr.New(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
		}
		path := e.Key
		if prefix != "" {
			path = prefix + "." + e.Key
		}
		if err := expr.ValidatePath(path); err != nil {
			return err
		}
		if sub, ok := value.Doc(e.Value); ok && len(sub) > 0 && !strings.HasPrefix(sub[0].Key, "$") {
			if err := parseComputed(n, sub, path); err != nil {
				return err
			}
			continue
		}
		x, err := expr.Compile(e.Value)
		if err != nil {
			return err
		}
		if err := n.add(path, &projNode{leaf: true, expr: x}); err != nil {
			return err
		}
	}
	return nil
}

// addFields sets computed fields on a copy of d, evaluating against root.
func addFields(n *projNode, d, root bson.D, vars map[string]any) (bson.D, error) {
	out := make(bson.D, len(d), len(d)+len(n.order))
	copy(out, d)
	for _, name := range n.order {
		child := n.children[name]
		var v any
		if child.leaf {
			r, err := child.expr.Eval(root, vars)
			if err != nil {
				return nil, err
			}
			v = r
		} else {
			cur, _ := value.Lookup(out, name)
			r, err := addFieldsValue(child, cur, root, vars)
			if err != nil {
				return nil, err
			}
			v = r
		}
		out = setField(out, name, v)
	}
	return out, nil
}

func addFieldsValue(n *projNode, v any, root bson.D, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case bson.D, bson.M:
		doc, _ := value.Doc(x)
		return addFields(n, doc, root, vars)
	case bson.A:
		out := make(bson.A, len(x))
		for i, el := range x {
			r, err := addFieldsValue(n, el, root, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return addFields(n, bson.D{}, root, vars)
}

// setField sets or (for a missing value) removes a top-level field of a
// document the caller owns, keeping an existing field's position.
func setField(d bson.D, name string, v any) bson.D {
	_, remove := v.(value.Missing)
	for i := range d {
		if d[i].Key == name {
			if remove {
				return append(d[:i:i], d[i+1:]...)
			}
			d[i].Value = v
			return d
		}
	}
	if remove {
		return d
	}
	return append(d, bson.E{Key: name, Value: v})
}

func parseUnset(_ *compiler, name string, spec any) (stage, error) {
	var fields []string
	switch x := spec.(type) {
	case string:
		fields = []string{x}
	case bson.A:
		if len(x) == 0 {
			return nil, mongoerr.New(31119, "$unset specification must be a string or an array with at least one field")
		}
		for _, f := range x {
			s, ok := f.(string)
			if !ok {
				return nil, mongoerr.New(31120, "$unset specification must be a string or an array containing only string values")
			}
			fields = append(fields, s)
		}
	default:
		return nil, mongoerr.New(31002, "$unset specification must be a string or an array")
	}
	root := newNode()
	for _, f := range fields {
		if err := expr.ValidatePath(f); err != nil {
			return nil, prefixed(name, err)
		}
		if err := root.add(f, &projNode{leaf: true}); err != nil {
			return nil, prefixed(name, err)
		}
	}
	return stageFunc(func(_ *runCtx, docs []bson.D) ([]bson.D, error) {
		out := make([]bson.D, len(docs))
		for i, d := range docs {
			out[i] = exclude(root, d)
		}
		return out, nil
	}), nil
}
