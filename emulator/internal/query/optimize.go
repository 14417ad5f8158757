package query

import "slices"

// optimize applies the rewrites of MongoDB's MatchExpression::optimize that
// change which array offset a match records (and so what the positional `$`
// picks): a single-child $and or $or is replaced by its child, nested $and
// and $or are flattened (absorbed children go last, as in
// ListOfMatchExpression::getOptimizer), and an $or of equalities, regexes
// and $in over one path becomes one $in. Matching itself is unchanged.
func optimize(n node) node {
	switch x := n.(type) {
	case *andNode:
		kids := flatten(x.kids, func(k node) ([]node, bool) {
			a, ok := k.(*andNode)
			if !ok {
				return nil, false
			}
			return a.kids, true
		})
		if len(kids) == 1 {
			return kids[0]
		}
		return &andNode{kids: kids}
	case *orNode:
		kids := flatten(x.kids, func(k node) ([]node, bool) {
			o, ok := k.(*orNode)
			if !ok {
				return nil, false
			}
			return o.kids, true
		})
		if len(kids) == 1 {
			return kids[0]
		}
		if in := mergeIn(kids); in != nil {
			return in
		}
		return &orNode{kids: kids}
	case *norNode:
		kids := make([]node, len(x.kids))
		for i, k := range x.kids {
			kids[i] = optimize(k)
		}
		if len(kids) == 1 {
			return &notNode{kids[0]}
		}
		return &norNode{kids: kids}
	case *notNode:
		return &notNode{optimize(x.kid)}
	}
	return n
}

// flatten optimizes kids and absorbs the children of those of the same
// logical kind, appending them after the others.
func flatten(kids []node, same func(node) ([]node, bool)) []node {
	var out, absorbed []node
	for _, k := range kids {
		k = optimize(k)
		if inner, ok := same(k); ok {
			absorbed = append(absorbed, inner...)
			continue
		}
		out = append(out, k)
	}
	return append(out, absorbed...)
}

// mergeIn turns an $or whose children are all equality, regex or $in
// predicates on the same path into a single $in, or returns nil.
func mergeIn(kids []node) node {
	merged := &inArgs{}
	var first *pathNode
	for _, k := range kids {
		p, ok := k.(*pathNode)
		if !ok || p.in == nil || p.mode != leafTraverse {
			return nil
		}
		if first == nil {
			first = p
		} else if !slices.Equal(p.path, first.path) {
			return nil
		}
		merged.coll = p.in.coll
		merged.eqs = append(merged.eqs, p.in.eqs...)
		merged.res = append(merged.res, p.in.res...)
	}
	return &pathNode{path: first.path, test: inPred(merged), in: merged}
}
