package crud

import (
	"fmt"
	"math"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Namespace names a collection in a database.
type Namespace struct {
	Database   string
	Collection string
}

func (ns Namespace) String() string { return ns.Database + "." + ns.Collection }

// Limits from MongoDB's naming restrictions,
// https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions:
// a database name is not empty, shorter than 64 bytes, and has none of
// /\. "$ or NUL (the Unix/Linux set); a collection name is not empty, has
// no $ or NUL, and neither begins with "system." nor contains ".system."
// (reserved for internal use); the namespace "db.coll" is at most 255
// bytes.
const (
	maxDatabaseNameLen = 63
	maxNamespaceLen    = 255
	badDatabaseChars   = "/\\. \"$\x00"
)

// Validate checks ns against MongoDB's naming restrictions, so that a bad
// name is reported as an argument error before anything is sent.
func (ns Namespace) Validate() error {
	switch {
	case ns.Database == "":
		return &ArgError{Field: "namespace.database", Reason: "required"}
	case len(ns.Database) > maxDatabaseNameLen:
		return &ArgError{Field: "namespace.database", Reason: fmt.Sprintf("%d bytes; MongoDB allows fewer than 64", len(ns.Database))}
	case strings.ContainsAny(ns.Database, badDatabaseChars):
		return &ArgError{Field: "namespace.database", Reason: `must not contain any of / \ . space " $ or NUL`}
	case ns.Collection == "":
		return &ArgError{Field: "namespace.collection", Reason: "required"}
	case strings.ContainsAny(ns.Collection, "$\x00"):
		return &ArgError{Field: "namespace.collection", Reason: "must not contain $ or NUL"}
	case strings.HasPrefix(ns.Collection, "system.") || strings.Contains(ns.Collection, ".system."):
		return &ArgError{Field: "namespace.collection", Reason: `"system." names are reserved for MongoDB's internal use`}
	case len(ns.Database)+1+len(ns.Collection) > maxNamespaceLen:
		return &ArgError{Field: "namespace.collection", Reason: fmt.Sprintf("namespace %q is longer than MongoDB's limit of %d bytes", ns.String(), maxNamespaceLen)}
	}
	return nil
}

// forbidden are the operators that run JavaScript on the server.
var forbidden = [...]string{"$where", "$function", "$accumulator"}

// checkForbidden looks for a forbidden operator as a key at any depth of
// doc, inside documents and arrays alike. doc must be valid BSON.
func checkForbidden(field string, doc bson.Raw) error {
	// An explicit stack, not recursion: nesting is bounded only by size.
	stack := []bsoncore.Document{bsoncore.Document(doc)}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if len(d) < 5 {
			continue
		}
		rest := d[4 : len(d)-1]
		for len(rest) > 0 {
			elem, r, ok := bsoncore.ReadElement(rest)
			if !ok {
				return &ArgError{Field: field, Reason: "bson: malformed element"}
			}
			rest = r
			if key := elem.Key(); strings.HasPrefix(key, "$") {
				for _, op := range forbidden {
					if key == op {
						return &ForbiddenError{Operator: op, Field: field}
					}
				}
			}
			switch v := elem.Value(); v.Type {
			case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
				stack = append(stack, bsoncore.Document(v.Data))
			}
		}
	}
	return nil
}

// decodeArg decodes a request field and refuses server-side JavaScript in
// it. A nil d gives nil (unset).
func decodeArg(field string, d *Document) (bson.Raw, error) {
	if d == nil {
		return nil, nil
	}
	raw, err := Decode(field, *d)
	if err != nil {
		return nil, err
	}
	if err := checkForbidden(field, raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// requiredArg is decodeArg for a field that must be set.
func requiredArg(field string, d *Document) (bson.Raw, error) {
	if d == nil {
		return nil, &ArgError{Field: field, Reason: "required"}
	}
	return decodeArg(field, d)
}

// filterArg decodes a filter; unset means {} when optional.
func filterArg(d *Document, required bool) (bson.Raw, error) {
	if d == nil {
		if required {
			return nil, &ArgError{Field: "filter", Reason: "required; {} matches every document"}
		}
		return emptyDoc, nil
	}
	return decodeArg("filter", d)
}

// emptyDoc is {}.
var emptyDoc = bson.Raw{5, 0, 0, 0, 0}

// listArg decodes a repeated document field as field[i].
func listArg(field string, ds []Document) ([]bson.Raw, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	out := make([]bson.Raw, len(ds))
	for i := range ds {
		raw, err := decodeArg(prefixed(field, i), &ds[i])
		if err != nil {
			return nil, err
		}
		out[i] = raw
	}
	return out, nil
}

// hintArg turns the hint_spec oneof into what the driver takes: the index
// key pattern as a document, or the index name. nil means no hint.
func hintArg(prefix string, keys *Document, name string) (any, error) {
	if keys != nil && name != "" {
		return nil, &ArgError{Field: prefix + "hint", Reason: "both hint and hint_name are set; set at most one"}
	}
	if name != "" {
		return name, nil
	}
	if keys == nil {
		return nil, nil
	}
	raw, err := decodeArg(prefix+"hint", keys)
	if err != nil || raw == nil {
		return nil, err
	}
	if len(raw) == len(emptyDoc) {
		return nil, &ArgError{Field: prefix + "hint", Reason: "an index key pattern needs at least one field, e.g. {\"email\": 1}"}
	}
	return raw, nil
}

// collationArg turns a collation document into the driver's Collation,
// checking it as MongoDB would
// (https://www.mongodb.com/docs/manual/reference/collation/#collation-document).
func collationArg(field string, d *Document) (*options.Collation, error) {
	raw, err := decodeArg(field, d)
	if err != nil || raw == nil {
		return nil, err
	}
	elems, err := raw.Elements()
	if err != nil {
		return nil, &ArgError{Field: field, Reason: "bson: " + err.Error()}
	}
	var c options.Collation
	bad := func(key, want string) error {
		return &ArgError{Field: field, Reason: fmt.Sprintf("%s must be %s", key, want)}
	}
	for _, e := range elems {
		v := e.Value()
		switch key := e.Key(); key {
		case "locale", "caseFirst", "alternate", "maxVariable":
			s, ok := v.StringValueOK()
			if !ok {
				return nil, bad(key, "a string")
			}
			switch key {
			case "locale":
				c.Locale = s
			case "caseFirst":
				c.CaseFirst = s
			case "alternate":
				c.Alternate = s
			case "maxVariable":
				c.MaxVariable = s
			}
		case "caseLevel", "numericOrdering", "normalization", "backwards":
			b, ok := v.BooleanOK()
			if !ok {
				return nil, bad(key, "a boolean")
			}
			switch key {
			case "caseLevel":
				c.CaseLevel = b
			case "numericOrdering":
				c.NumericOrdering = b
			case "normalization":
				c.Normalization = b
			case "backwards":
				c.Backwards = b
			}
		case "strength":
			n, ok := integral(v)
			if !ok || n < 1 || n > 5 {
				return nil, bad(key, "an integer from 1 to 5")
			}
			c.Strength = int(n)
		default:
			return nil, &ArgError{Field: field, Reason: fmt.Sprintf("unknown collation field %q", key)}
		}
	}
	if c.Locale == "" {
		return nil, &ArgError{Field: field, Reason: `locale is required, e.g. {"locale": "fr"}`}
	}
	return &c, nil
}

// integral reads a number that holds an integer, whatever its BSON type:
// relaxed JSON makes 2 an int32 but 2.0 a double.
func integral(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64:
		return v.AsInt64(), true
	case bson.TypeDouble:
		f := v.Double()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func nonNegative(field string, n int64) error {
	if n < 0 {
		return &ArgError{Field: field, Reason: fmt.Sprintf("%d is negative", n)}
	}
	return nil
}

func maxTimeArg(field string, d time.Duration) error {
	if d < 0 {
		return &ArgError{Field: field, Reason: fmt.Sprintf("%v is negative", d)}
	}
	return nil
}

// checkUpdateDoc applies the driver's rule for an update document (its
// first key is an update operator), reported as an argument error rather
// than the driver's plain one.
func checkUpdateDoc(field string, doc bson.Raw) error {
	e, err := doc.IndexErr(0)
	if err != nil {
		return &ArgError{Field: field, Reason: `empty; an update needs operators such as {"$set": {...}}`}
	}
	if !strings.HasPrefix(e.Key(), "$") {
		return &ArgError{Field: field, Reason: fmt.Sprintf("%q is not an update operator; an update needs operators such as {\"$set\": {...}} (use a replace to replace the whole document)", e.Key())}
	}
	return nil
}

// checkReplacement applies the driver's rule for a replacement document:
// its first key is not an update operator.
func checkReplacement(field string, doc bson.Raw) error {
	if e, err := doc.IndexErr(0); err == nil && strings.HasPrefix(e.Key(), "$") {
		return &ArgError{Field: field, Reason: fmt.Sprintf("%q looks like an update operator; a replacement is a whole document (use an update to apply operators)", e.Key())}
	}
	return nil
}

// prefixed names element i of a repeated field.
func prefixed(field string, i int) string { return fmt.Sprintf("%s[%d]", field, i) }

// checkStage applies MongoDB's rule for a pipeline stage: exactly one
// field, a stage name such as $match.
func checkStage(field string, stage bson.Raw) error {
	elems, err := stage.Elements()
	if err != nil {
		return &ArgError{Field: field, Reason: "bson: " + err.Error()}
	}
	if len(elems) != 1 || !strings.HasPrefix(elems[0].Key(), "$") {
		return &ArgError{Field: field, Reason: `a stage is a document with exactly one field, its name, e.g. {"$match": {...}}`}
	}
	return nil
}
