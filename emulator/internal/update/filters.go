package update

import (
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// arrayFilter is one of an update's arrayFilters, for the $[<id>] parts
// of its paths.
type arrayFilter struct {
	id    string
	match func(bson.D) (bool, error)
}

// matches tests an array element against the filter, whose paths start
// with the identifier: the element is matched as the identifier's field.
func (f *arrayFilter) matches(v any) (bool, error) {
	return f.match(bson.D{{Key: f.id, Value: v}})
}

var identifierPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// compileArrayFilters parses the arrayFilters option into filters keyed by
// identifier, with the checks of MongoDB's parseArrayFilters and
// ExpressionWithPlaceholder.
func compileArrayFilters(raw []bson.D, opts Options) (map[string]*arrayFilter, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if opts.Match == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "arrayFilters are not supported")
	}
	out := make(map[string]*arrayFilter, len(raw))
	for _, f := range raw {
		match, err := opts.Match(f)
		if err != nil {
			if me := mongoerr.As(err); me != nil {
				return nil, &mongoerr.Error{Code: me.Code, Name: me.Name, Msg: "Error parsing array filter :: caused by :: " + me.Msg}
			}
			return nil, err
		}
		id, found, err := placeholderName(f)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, mongoerr.New(mongoerr.FailedToParse, "Cannot use an expression without a top-level field name in arrayFilters")
		}
		if !identifierPattern.MatchString(id) {
			return nil, mongoerr.New(mongoerr.BadValue,
				"The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '%s'", id)
		}
		if out[id] != nil {
			return nil, mongoerr.New(mongoerr.FailedToParse, "Found multiple array filters with the same top-level field name %s", id)
		}
		out[id] = &arrayFilter{id: id, match: match}
	}
	return out, nil
}

// placeholderName is the one first path component every condition of an
// array filter must share, looking inside $and, $or and $nor.
func placeholderName(filter bson.D) (string, bool, error) {
	var name string
	found := false
	use := func(n string) error {
		if found && n != name {
			return mongoerr.New(mongoerr.FailedToParse, "Expected a single top-level field name, found '%s' and '%s'", name, n)
		}
		name, found = n, true
		return nil
	}
	for _, e := range filter {
		switch {
		case e.Key == "$and" || e.Key == "$or" || e.Key == "$nor":
			arr, _ := e.Value.(bson.A)
			for _, sub := range arr {
				d, _ := value.Doc(sub)
				n, ok, err := placeholderName(d)
				if err != nil {
					return "", false, err
				}
				if ok {
					if err := use(n); err != nil {
						return "", false, err
					}
				}
			}
		case strings.HasPrefix(e.Key, "$"):
		default:
			n, _, _ := strings.Cut(e.Key, ".")
			if err := use(n); err != nil {
				return "", false, err
			}
		}
	}
	return name, found, nil
}

// pathAcceptingKeywords are the operators that, leading a $pull condition,
// make it a condition on the element itself rather than a query on
// document elements (MatchExpressionParser::parsePathAcceptingKeyword).
var pathAcceptingKeywords = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$all": true, "$size": true, "$exists": true, "$type": true,
	"$mod": true, "$regex": true, "$options": true, "$elemMatch": true, "$not": true,
	"$near": true, "$nearSphere": true, "$geoWithin": true, "$within": true, "$geoIntersects": true,
	"$maxDistance": true, "$minDistance": true, "$bitsAllSet": true, "$bitsAllClear": true,
	"$bitsAnySet": true, "$bitsAnyClear": true,
}

// pullMatcher compiles a $pull condition the three ways MongoDB's PullNode
// does: a document of operators ({$gte: 6}) or a regex tests each element
// as the field "" of a document; any other document is a query that
// document elements must match; anything else removes equal elements.
func (c *compiler) pullMatcher(cond any) (func(any) (bool, error), error) {
	d, isDoc := cond.(bson.D)
	_, isRegex := cond.(bson.Regex)
	if !isDoc && !isRegex {
		return func(v any) (bool, error) { return value.Equal(v, cond), nil }, nil
	}
	if c.opts.Match == nil {
		return nil, mongoerr.New(mongoerr.NotImplemented, "$pull conditions are not supported")
	}
	if isDoc && (len(d) == 0 || !pathAcceptingKeywords[d[0].Key]) {
		match, err := c.opts.Match(d)
		if err != nil {
			return nil, err
		}
		return func(v any) (bool, error) {
			doc, ok := v.(bson.D)
			if !ok {
				return false, nil
			}
			return match(doc)
		}, nil
	}
	match, err := c.opts.Match(bson.D{{Key: "", Value: cond}})
	if err != nil {
		return nil, err
	}
	return func(v any) (bool, error) { return match(bson.D{{Key: "", Value: v}}) }, nil
}
