package update

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

// node is a node of the update tree: an objectNode or arrayNode for each
// path component that leads further, and a leaf (an operator) at the end of
// each path. MongoDB's UpdateObjectNode, UpdateArrayNode and ModifierNode.
type node interface {
	// apply runs the node against el. When a.toCreate is empty, el is the
	// element at a.taken; otherwise the path a.toCreate does not exist yet
	// and el is the deepest element that does.
	apply(a *applier, el *elem) error
}

// objectNode is a path component followed by named fields (or array
// indexes), applied in cmpPathsAndArrayIndexes order, plus the positional
// $ child if any.
type objectNode struct {
	children   map[string]node
	order      []string
	positional node
}

// arrayNode is a path component followed by $[] (identifier "") or
// $[<identifier>]: its children apply to every array element, or to those
// the identifier's array filter matches.
type arrayNode struct {
	children map[string]node
	order    []string
	filters  map[string]*arrayFilter
}

// placeholder reserves $rename's source path in the tree so that other
// operators on it conflict; it does nothing itself.
type placeholder struct{}

func (placeholder) apply(*applier, *elem) error { return nil }

func (n *objectNode) setChild(name string, c node) {
	if name == "$" {
		n.positional = c
		return
	}
	if n.children == nil {
		n.children = map[string]node{}
	}
	n.children[name] = c
}

func (n *objectNode) getChild(name string) node {
	if name == "$" {
		return n.positional
	}
	return n.children[name]
}

func (n *arrayNode) setChild(name string, c node) {
	if n.children == nil {
		n.children = map[string]node{}
	}
	n.children[name] = c
}

// finish fixes the order children are applied in, recursively.
func (n *objectNode) finish() {
	n.order = n.order[:0]
	for name, c := range n.children {
		n.order = append(n.order, name)
		finishNode(c)
	}
	slices.SortFunc(n.order, comparePathParts)
	finishNode(n.positional)
}

func (n *arrayNode) finish() {
	n.order = n.order[:0]
	for name, c := range n.children {
		n.order = append(n.order, name)
		finishNode(c)
	}
	slices.Sort(n.order)
}

func finishNode(c node) {
	switch x := c.(type) {
	case *objectNode:
		x.finish()
	case *arrayNode:
		x.finish()
	}
}

// comparePathParts orders sibling fields as MongoDB's
// cmpPathsAndArrayIndexes: numbers (without leading zeros) numerically, so
// that "a.9" is created before "a.10", and everything else bytewise. See
// "Behavior" in https://www.mongodb.com/docs/v7.0/reference/operator/update/.
func comparePathParts(a, b string) int {
	num := func(s string) bool {
		return s != "" && s[0] >= '0' && s[0] <= '9' && (s[0] != '0' || len(s) == 1)
	}
	if !num(a) || !num(b) {
		return strings.Compare(a, b)
	}
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// applier is the state of one Apply walking the tree. taken and toCreate
// are shared by the whole walk, as MongoDB's pathTaken and pathToCreate are.
type applier struct {
	root      *elem
	matched   string // the positional $ index, "" if the query matched none
	inserting bool
	now       func() time.Time
	taken     []string // path to the current element, which exists
	toCreate  []string // path beyond it that does not exist yet
	changed   bool
}

// path is the full dotted path of the current element.
func (a *applier) path() string {
	return strings.Join(slices.Concat(a.taken, a.toCreate), ".")
}

func (a *applier) pathWith(field string) []string {
	return slices.Concat(a.taken, a.toCreate, []string{field})
}

// applyChild applies c to the child of *el named field, then advances *el
// over any part of the path the child created, so that later siblings find
// it (UpdateObjectNode's applyChild).
func (a *applier) applyChild(c node, field string, el **elem) error {
	before := len(a.taken)
	var ch *elem
	if len(a.toCreate) == 0 {
		ch = child(*el, field)
	}
	if ch != nil {
		a.taken = append(a.taken, field)
	} else {
		ch = *el
		a.toCreate = append(a.toCreate, field)
	}
	if err := c.apply(a, ch); err != nil {
		return err
	}
	if len(a.toCreate) > 0 {
		a.toCreate = a.toCreate[:len(a.toCreate)-1]
	} else {
		a.taken = a.taken[:len(a.taken)-1]
	}
	switch {
	case len(a.taken) > before:
		for _, p := range a.taken[before:] {
			*el = child(*el, p)
		}
	case len(a.toCreate) > 0:
		if first := child(*el, a.toCreate[0]); first != nil {
			*el = first
			a.taken = append(a.taken, a.toCreate[0])
			for _, p := range a.toCreate[1:] {
				*el = child(*el, p)
				a.taken = append(a.taken, p)
			}
			a.toCreate = a.toCreate[:0]
		}
	}
	return nil
}

func (n *objectNode) apply(a *applier, el *elem) error {
	pending := n.positional != nil
	if pending && a.matched == "" {
		return mongoerr.New(mongoerr.BadValue, "The positional operator did not find the match needed from the query.")
	}
	for _, name := range n.order {
		c := n.children[name]
		if pending && name == a.matched {
			merged, err := merge(c, n.positional, a.pathWith(name))
			if err != nil {
				return err
			}
			if err := a.applyChild(merged, name, &el); err != nil {
				return err
			}
			pending = false
			continue
		}
		if pending && a.matched < name {
			if err := a.applyChild(n.positional, a.matched, &el); err != nil {
				return err
			}
			pending = false
		}
		if err := a.applyChild(c, name, &el); err != nil {
			return err
		}
	}
	if pending {
		return a.applyChild(n.positional, a.matched, &el)
	}
	return nil
}

func (n *arrayNode) apply(a *applier, el *elem) error {
	if len(a.toCreate) > 0 {
		return mongoerr.New(mongoerr.BadValue,
			"The path '%s' must exist in the document in order to apply array updates.", a.path())
	}
	arr, ok := el.val.(*array)
	if !ok {
		return mongoerr.New(mongoerr.BadValue, "Cannot apply array updates to non-array element %s", el)
	}
	// Which updates apply to which elements is settled before any applies.
	items := slices.Clone(arr.items)
	matches := make([][]node, len(items))
	for i, item := range items {
		var v any
		converted := false
		for _, id := range n.order {
			if id != "" {
				if !converted {
					v, converted = item.bson(), true
				}
				ok, err := n.filters[id].matches(v)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			matches[i] = append(matches[i], n.children[id])
		}
	}
	for i, item := range items {
		if len(matches[i]) == 0 {
			continue
		}
		index := strconv.Itoa(i)
		merged := matches[i][0]
		for _, other := range matches[i][1:] {
			var err error
			if merged, err = merge(merged, other, slices.Concat(a.taken, []string{index})); err != nil {
				return err
			}
		}
		a.taken = append(a.taken, index)
		if err := merged.apply(a, item); err != nil {
			return err
		}
		a.taken = a.taken[:len(a.taken)-1]
	}
	return nil
}

// merge combines two subtrees that apply to the same element (a positional
// $ and a named index, or several array filters matching one element);
// two operators on one path conflict.
func merge(x, y node, path []string) (node, error) {
	sub := func(part string) []string { return slices.Concat(path, []string{part}) }
	switch l := x.(type) {
	case *objectNode:
		r, ok := y.(*objectNode)
		if !ok {
			break
		}
		m := &objectNode{children: map[string]node{}}
		for k, c := range l.children {
			m.children[k] = c
		}
		for k, c := range r.children {
			if lc, ok := m.children[k]; ok {
				mc, err := merge(lc, c, sub(k))
				if err != nil {
					return nil, err
				}
				c = mc
			}
			m.children[k] = c
		}
		switch {
		case l.positional != nil && r.positional != nil:
			p, err := merge(l.positional, r.positional, sub("$"))
			if err != nil {
				return nil, err
			}
			m.positional = p
		case l.positional != nil:
			m.positional = l.positional
		default:
			m.positional = r.positional
		}
		m.order = make([]string, 0, len(m.children))
		for k := range m.children {
			m.order = append(m.order, k)
		}
		slices.SortFunc(m.order, comparePathParts)
		return m, nil
	case *arrayNode:
		r, ok := y.(*arrayNode)
		if !ok {
			break
		}
		m := &arrayNode{children: map[string]node{}, filters: l.filters}
		for k, c := range l.children {
			m.children[k] = c
		}
		for k, c := range r.children {
			if lc, ok := m.children[k]; ok {
				mc, err := merge(lc, c, sub("$["+k+"]"))
				if err != nil {
					return nil, err
				}
				c = mc
			}
			m.children[k] = c
		}
		for k := range m.children {
			m.order = append(m.order, k)
		}
		slices.Sort(m.order)
		return m, nil
	}
	return nil, mongoerr.New(mongoerr.ConflictingUpdateOperators,
		"Update created a conflict at '%s'", strings.Join(path, "."))
}

// compiler builds the update tree of an operator update
// (UpdateObjectNode::parseAndMerge).
type compiler struct {
	opts       Options
	root       *objectNode
	filters    map[string]*arrayFilter
	used       map[string]bool
	positional bool
}

func isArrayFilterPart(p string) bool {
	return len(p) >= 3 && p[0] == '$' && p[1] == '[' && p[len(p)-1] == ']'
}

// splitPath splits and checks an update path (fieldchecker::isUpdatable and
// the positional rules).
func splitPath(path string) ([]string, error) {
	if path == "" {
		return nil, coded(codeEmptyFieldName, "EmptyFieldName", "An empty update path is not valid.")
	}
	parts := strings.Split(path, ".")
	positional := 0
	for i, p := range parts {
		if p == "" {
			return nil, coded(codeEmptyFieldName, "EmptyFieldName",
				"The update path '%s' contains an empty field name, which is not allowed.", path)
		}
		if p == "$" {
			if i == 0 {
				return nil, mongoerr.New(mongoerr.BadValue,
					"Cannot have positional (i.e. '$') element in the first position in path '%s'", path)
			}
			positional++
		}
	}
	if positional > 1 {
		return nil, mongoerr.New(mongoerr.BadValue, "Too many positional (i.e. '$') elements found in path '%s'", path)
	}
	return parts, nil
}

// childName is the key of parts[i] in its parent node: the identifier of
// an array filter part, the part itself otherwise.
func (c *compiler) childName(parts []string, i int) (string, error) {
	p := parts[i]
	if !isArrayFilterPart(p) {
		return p, nil
	}
	path := strings.Join(parts, ".")
	if i == 0 {
		return "", mongoerr.New(mongoerr.BadValue,
			"Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '%s'", path)
	}
	id := p[2 : len(p)-1]
	if id != "" {
		if c.filters[id] == nil {
			return "", mongoerr.New(mongoerr.BadValue, "No array filter found for identifier '%s' in path '%s'", id, path)
		}
		c.used[id] = true
	}
	return id, nil
}

// insert places leaf at the end of parts, creating the internal nodes on
// the way and rejecting a path that is, contains or lies under another.
func (c *compiler) insert(parts []string, leaf node) error {
	path := strings.Join(parts, ".")
	if slices.Contains(parts, "$") {
		c.positional = true
	}
	var cur node = c.root
	for i := range len(parts) - 1 {
		name, err := c.childName(parts, i)
		if err != nil {
			return err
		}
		wantArray := isArrayFilterPart(parts[i+1])
		next := getChild(cur, name)
		switch next.(type) {
		case nil:
			if wantArray {
				next = &arrayNode{filters: c.filters}
			} else {
				next = &objectNode{}
			}
			setChild(cur, name, next)
		case *arrayNode:
			if !wantArray {
				return conflict(path, strings.Join(parts[:i+1], "."))
			}
		case *objectNode:
			if wantArray {
				return conflict(path, strings.Join(parts[:i+1], "."))
			}
		default:
			return conflict(path, strings.Join(parts[:i+1], "."))
		}
		cur = next
	}
	name, err := c.childName(parts, len(parts)-1)
	if err != nil {
		return err
	}
	if getChild(cur, name) != nil {
		return conflict(path, path)
	}
	setChild(cur, name, leaf)
	return nil
}

func getChild(n node, name string) node {
	switch x := n.(type) {
	case *objectNode:
		return x.getChild(name)
	case *arrayNode:
		return x.children[name]
	}
	return nil
}

func setChild(n node, name string, c node) {
	switch x := n.(type) {
	case *objectNode:
		x.setChild(name, c)
	case *arrayNode:
		x.setChild(name, c)
	}
}

func (c *compiler) checkFiltersUsed(update bson.D) error {
	ids := make([]string, 0, len(c.filters))
	for id := range c.filters {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !c.used[id] {
			return mongoerr.New(mongoerr.FailedToParse,
				"The array filter for identifier '%s' was not used in the update %s", id, format(update))
		}
	}
	return nil
}
