package spec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// entityLookup is what the matcher needs from the entity map. It is an
// interface so that match_test.go can use a small fake.
type entityLookup interface {
	// value returns a BSON entity (for $$matchesEntity).
	value(name string) (bson.RawValue, error)
	// lsid returns a session entity's logical session id (for $$sessionLsid).
	lsid(name string) (bson.Raw, error)
}

// matcher implements "Evaluating Matches" of the unified test format: an
// expected value from a test file is compared with an actual value, where the
// expected side may contain $$-operators, root-level documents may carry extra
// keys and numbers of different types compare by value.
//
// An actual value whose Type is 0 means "absent" (the key does not exist or
// the operation returned no result); only $$exists and $$unsetOrMatches
// accept it.
type matcher struct {
	entities entityLookup
}

// match reports the first difference between expected and actual. root says
// whether actual is a root-level document (extra keys allowed); arrays pass
// root on to their elements, which is how an array of documents returned by a
// cursor is matched element by element as root documents.
func (m matcher) match(expected, actual bson.RawValue, root bool) error {
	return m.matchAt("", expected, actual, root)
}

func (m matcher) matchAt(path string, expected, actual bson.RawValue, root bool) error {
	switch expected.Type {
	case bson.TypeEmbeddedDocument:
		exp := expected.Document()
		if op, arg, ok := specialOperator(exp); ok {
			return m.operator(path, op, arg, actual, root)
		}
		if !exists(actual) {
			return mismatch(path, "expected document %s, but the value is absent", exp)
		}
		act, ok := actual.DocumentOK()
		if !ok {
			return mismatch(path, "expected a document, got %s %s", actual.Type, actual)
		}
		elems, err := exp.Elements()
		if err != nil {
			return fmt.Errorf("invalid expected document at %q: %w", path, err)
		}
		for _, e := range elems {
			key, ev := e.Key(), e.Value()
			sub := join(path, key)
			av := lookup(act, key)
			if ed, ok := ev.DocumentOK(); ok {
				if op, arg, ok := specialOperator(ed); ok {
					// Operators at key level decide for themselves whether an
					// absent key is acceptable ($$exists, $$unsetOrMatches).
					if err := m.operator(sub, op, arg, av, false); err != nil {
						return err
					}
					continue
				}
			}
			if !exists(av) {
				return mismatch(sub, "key is missing from actual document %s", act)
			}
			if err := m.matchAt(sub, ev, av, false); err != nil {
				return err
			}
		}
		if root {
			return nil
		}
		// Counting keys would be wrong here: {y: {$$exists: false}} has one
		// key but matches {}. So look each actual key up instead.
		aelems, err := act.Elements()
		if err != nil {
			return fmt.Errorf("invalid actual document at %q: %w", path, err)
		}
		for _, e := range aelems {
			if _, err := exp.LookupErr(e.Key()); err != nil {
				return mismatch(path, "unexpected extra key %q in nested document %s", e.Key(), act)
			}
		}
		return nil

	case bson.TypeArray:
		if !exists(actual) {
			return mismatch(path, "expected array %s, but the value is absent", expected)
		}
		act, ok := actual.ArrayOK()
		if !ok {
			return mismatch(path, "expected an array, got %s %s", actual.Type, actual)
		}
		ev, err := expected.Array().Values()
		if err != nil {
			return fmt.Errorf("invalid expected array at %q: %w", path, err)
		}
		av, err := act.Values()
		if err != nil {
			return fmt.Errorf("invalid actual array at %q: %w", path, err)
		}
		if len(ev) != len(av) {
			return mismatch(path, "expected %d array elements, got %d: %s", len(ev), len(av), act)
		}
		for i := range ev {
			if err := m.matchAt(join(path, fmt.Sprint(i)), ev[i], av[i], root); err != nil {
				return err
			}
		}
		return nil
	}

	if !exists(actual) {
		return mismatch(path, "expected %s, but the value is absent", expected)
	}
	if !scalarEqual(expected, actual) {
		return mismatch(path, "expected %s, got %s", expected, actual)
	}
	return nil
}

// operator evaluates one special matching operator against actual.
func (m matcher) operator(path, op string, arg, actual bson.RawValue, root bool) error {
	switch op {
	case "$$exists":
		want, ok := arg.BooleanOK()
		if !ok {
			return fmt.Errorf("$$exists at %q needs a boolean, got %s", path, arg)
		}
		if exists(actual) != want {
			if want {
				return mismatch(path, "expected the key to exist")
			}
			return mismatch(path, "expected the key to be absent, got %s", actual)
		}
		return nil

	case "$$type":
		names, err := typeNames(arg)
		if err != nil {
			return fmt.Errorf("$$type at %q: %w", path, err)
		}
		if !exists(actual) {
			return mismatch(path, "expected a value of type %v, but the value is absent", names)
		}
		for _, n := range names {
			ok, err := hasTypeName(actual.Type, n)
			if err != nil {
				return fmt.Errorf("$$type at %q: %w", path, err)
			}
			if ok {
				return nil
			}
		}
		return mismatch(path, "expected type %v, got %s %s", names, actual.Type, actual)

	case "$$unsetOrMatches":
		if !exists(actual) {
			return nil
		}
		return m.matchAt(path, arg, actual, root)

	case "$$matchesEntity":
		name, ok := arg.StringValueOK()
		if !ok {
			return fmt.Errorf("$$matchesEntity at %q needs an entity name, got %s", path, arg)
		}
		v, err := m.entityLookup().value(name)
		if err != nil {
			return fmt.Errorf("$$matchesEntity at %q: %w", path, err)
		}
		return m.matchAt(path, v, actual, root)

	case "$$matchesHexBytes":
		s, ok := arg.StringValueOK()
		if !ok {
			return fmt.Errorf("$$matchesHexBytes at %q needs a string, got %s", path, arg)
		}
		want, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("$$matchesHexBytes at %q: malformed hex %q: %w", path, s, err)
		}
		var got []byte
		switch actual.Type {
		case bson.TypeBinary:
			_, got = actual.Binary()
		case bson.TypeString:
			got = []byte(actual.StringValue())
		default:
			return mismatch(path, "expected bytes %x, got %s %s", want, actual.Type, actual)
		}
		if !bytes.Equal(want, got) {
			return mismatch(path, "expected bytes %x, got %x", want, got)
		}
		return nil

	case "$$sessionLsid":
		name, ok := arg.StringValueOK()
		if !ok {
			return fmt.Errorf("$$sessionLsid at %q needs a session entity name, got %s", path, arg)
		}
		lsid, err := m.entityLookup().lsid(name)
		if err != nil {
			return fmt.Errorf("$$sessionLsid at %q: %w", path, err)
		}
		want := bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: lsid}
		if !exists(actual) {
			return mismatch(path, "expected lsid of %s %s, but the value is absent", name, lsid)
		}
		if err := exactMatch(path, want, actual); err != nil {
			return mismatch(path, "expected lsid of %s %s, got %s", name, lsid, actual)
		}
		return nil

	case "$$lte":
		if !isNumeric(arg.Type) {
			return fmt.Errorf("$$lte at %q needs a number, got %s", path, arg)
		}
		if !exists(actual) || !isNumeric(actual.Type) {
			return mismatch(path, "expected a number <= %s, got %s %s", arg, actual.Type, actual)
		}
		if compareNumbers(actual, arg) > 0 {
			return mismatch(path, "expected a number <= %s, got %s", arg, actual)
		}
		return nil

	case "$$matchAsDocument":
		s, ok := actual.StringValueOK()
		if !ok {
			return mismatch(path, "$$matchAsDocument expects an Extended JSON string, got %s %s", actual.Type, actual)
		}
		var doc bson.Raw
		if err := bson.UnmarshalExtJSON([]byte(s), false, &doc); err != nil {
			return mismatch(path, "$$matchAsDocument: cannot parse %q: %v", s, err)
		}
		return m.matchAt(path, arg, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc}, false)

	case "$$matchAsRoot":
		return m.matchAt(path, arg, actual, true)
	}
	return fmt.Errorf("unsupported matching operator %s at %q", op, path)
}

func (m matcher) entityLookup() entityLookup {
	if m.entities == nil {
		return noEntities{}
	}
	return m.entities
}

// noEntities answers entity operators used where no entity map exists.
type noEntities struct{}

func (noEntities) value(name string) (bson.RawValue, error) {
	return bson.RawValue{}, fmt.Errorf("no entity %q", name)
}

func (noEntities) lsid(name string) (bson.Raw, error) {
	return nil, fmt.Errorf("no session entity %q", name)
}

// exactMatch compares without operators and without extra keys at any level,
// as required for collection contents in test.outcome. Key order and numeric
// type are still allowed to differ.
func exactMatch(path string, expected, actual bson.RawValue) error {
	switch expected.Type {
	case bson.TypeEmbeddedDocument:
		act, ok := actual.DocumentOK()
		if !ok {
			return mismatch(path, "expected document %s, got %s %s", expected, actual.Type, actual)
		}
		exp := expected.Document()
		eelems, err := exp.Elements()
		if err != nil {
			return fmt.Errorf("invalid expected document at %q: %w", path, err)
		}
		aelems, err := act.Elements()
		if err != nil {
			return fmt.Errorf("invalid actual document at %q: %w", path, err)
		}
		for _, e := range eelems {
			av := lookup(act, e.Key())
			if !exists(av) {
				return mismatch(join(path, e.Key()), "key is missing from actual document %s", act)
			}
			if err := exactMatch(join(path, e.Key()), e.Value(), av); err != nil {
				return err
			}
		}
		for _, e := range aelems {
			if _, err := exp.LookupErr(e.Key()); err != nil {
				return mismatch(path, "unexpected extra key %q in %s", e.Key(), act)
			}
		}
		return nil
	case bson.TypeArray:
		act, ok := actual.ArrayOK()
		if !ok {
			return mismatch(path, "expected array %s, got %s %s", expected, actual.Type, actual)
		}
		ev, _ := expected.Array().Values()
		av, _ := act.Values()
		if len(ev) != len(av) {
			return mismatch(path, "expected %d array elements, got %d: %s", len(ev), len(av), act)
		}
		for i := range ev {
			if err := exactMatch(join(path, fmt.Sprint(i)), ev[i], av[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if !scalarEqual(expected, actual) {
		return mismatch(path, "expected %s, got %s", expected, actual)
	}
	return nil
}

// scalarEqual compares two non-container values. int32, int64 and double
// compare by numeric value (the spec's flexible numeric comparison);
// everything else, Decimal128 included, must have the same type and bytes.
func scalarEqual(expected, actual bson.RawValue) bool {
	if isNumeric(expected.Type) && isNumeric(actual.Type) {
		return compareNumbers(expected, actual) == 0
	}
	return expected.Equal(actual)
}

func isNumeric(t bson.Type) bool {
	return t == bson.TypeInt32 || t == bson.TypeInt64 || t == bson.TypeDouble
}

// compareNumbers orders two numeric values. Integers are compared as int64 so
// that large int64 values keep their precision; a double on either side makes
// it a float comparison.
func compareNumbers(a, b bson.RawValue) int {
	if a.Type != bson.TypeDouble && b.Type != bson.TypeDouble {
		x, y := a.AsInt64(), b.AsInt64()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	x, y := a.AsFloat64(), b.AsFloat64()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	// NaN is equal to nothing; report it as different.
	return 1
}

// specialOperator reports whether doc is an operator document: exactly one
// key, starting with "$$".
func specialOperator(doc bson.Raw) (string, bson.RawValue, bool) {
	elems, err := doc.Elements()
	if err != nil || len(elems) != 1 || !strings.HasPrefix(elems[0].Key(), "$$") {
		return "", bson.RawValue{}, false
	}
	return elems[0].Key(), elems[0].Value(), true
}

// bsonTypeNames are the $type query operator's aliases, which $$type uses.
var bsonTypeNames = map[string]bson.Type{
	"double":              bson.TypeDouble,
	"string":              bson.TypeString,
	"object":              bson.TypeEmbeddedDocument,
	"array":               bson.TypeArray,
	"binData":             bson.TypeBinary,
	"undefined":           bson.TypeUndefined,
	"objectId":            bson.TypeObjectID,
	"bool":                bson.TypeBoolean,
	"date":                bson.TypeDateTime,
	"null":                bson.TypeNull,
	"regex":               bson.TypeRegex,
	"dbPointer":           bson.TypeDBPointer,
	"javascript":          bson.TypeJavaScript,
	"symbol":              bson.TypeSymbol,
	"javascriptWithScope": bson.TypeCodeWithScope,
	"int":                 bson.TypeInt32,
	"timestamp":           bson.TypeTimestamp,
	"long":                bson.TypeInt64,
	"decimal":             bson.TypeDecimal128,
	"minKey":              bson.TypeMinKey,
	"maxKey":              bson.TypeMaxKey,
}

func hasTypeName(t bson.Type, name string) (bool, error) {
	if name == "number" {
		return isNumeric(t) || t == bson.TypeDecimal128, nil
	}
	want, ok := bsonTypeNames[name]
	if !ok {
		return false, fmt.Errorf("unknown type name %q", name)
	}
	return t == want, nil
}

func typeNames(arg bson.RawValue) ([]string, error) {
	if s, ok := arg.StringValueOK(); ok {
		return []string{s}, nil
	}
	arr, ok := arg.ArrayOK()
	if !ok {
		return nil, fmt.Errorf("needs a string or an array of strings, got %s", arg)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(vals))
	for _, v := range vals {
		s, ok := v.StringValueOK()
		if !ok {
			return nil, fmt.Errorf("needs type names as strings, got %s", v)
		}
		names = append(names, s)
	}
	return names, nil
}

func exists(v bson.RawValue) bool { return v.Type != 0 }

// lookup returns the value of key in doc, or an absent value.
func lookup(doc bson.Raw, key string) bson.RawValue {
	v, err := doc.LookupErr(key)
	if err != nil {
		return bson.RawValue{}
	}
	return v
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func mismatch(path, format string, args ...any) error {
	where := path
	if where == "" {
		where = "top level"
	}
	return fmt.Errorf("at %s: %s", where, fmt.Sprintf(format, args...))
}
