package update

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// These checks are the part of MongoDB's storage_validation.cpp an update
// can trip: top-level field names starting with '$' (other than a DBRef's
// $ref/$id/$db) and _id values that cannot be stored.

// checkForStorage validates a whole new document written by an update.
func checkForStorage(d bson.D, allowTopLevelDollar bool) error {
	for i, e := range d {
		if e.Key == "_id" {
			if err := checkIDValue(e.Value); err != nil {
				return err
			}
			continue
		}
		if !allowTopLevelDollar && strings.HasPrefix(e.Key, "$") {
			if err := checkDollarField(fieldsOf(d), i); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkIDForStorage validates the _id of a document about to be inserted.
func checkIDForStorage(d bson.D) error {
	if id, ok := value.Lookup(d, "_id"); ok {
		return checkIDValue(id)
	}
	return nil
}

// CheckID reports whether id can be stored as a document's _id (not an
// array, regex or undefined, and no '$'-prefixed fields inside), for
// inserts as well as updates.
func CheckID(id any) error { return checkIDValue(id) }

func checkIDValue(id any) error {
	switch x := id.(type) {
	case bson.Regex, bson.A, bson.Undefined:
		return mongoerr.New(mongoerr.InvalidIdField, "The '_id' value cannot be of type %s", value.TypeAlias(id))
	case bson.D, bson.M:
		d := value.AsDoc(x)
		for i, e := range d {
			if strings.HasPrefix(e.Key, "$") {
				if err := checkDollarField(fieldsOf(d), i); err != nil {
					if me := mongoerr.As(err); me != nil && me.Code == mongoerr.DollarPrefixedFieldName {
						me.Msg = "_id fields may not contain '$'-prefixed fields: " + me.Msg
					}
					return err
				}
			}
		}
	}
	return nil
}

// field is what the DBRef rules need to know of a document's fields.
type field struct {
	name     string
	isString bool
}

func fieldsOf(d bson.D) []field {
	out := make([]field, len(d))
	for i, e := range d {
		_, s := e.Value.(string)
		out[i] = field{name: e.Key, isString: s}
	}
	return out
}

func fieldsOfElem(o *object) []field {
	out := make([]field, len(o.fields))
	for i, f := range o.fields {
		_, s := f.val.(string)
		out[i] = field{name: f.name, isString: s}
	}
	return out
}

// checkDollarField accepts the $-prefixed field fields[i] only as part of a
// DBRef ({$ref: <string>, $id: …, $db: <string>} in that order), as
// MongoDB's validateDollarPrefixElement does.
func checkDollarField(fields []field, i int) error {
	badRef := func(msg string) error { return coded(codeInvalidDBRef, "InvalidDBRef", "%s", msg) }
	name := fields[i].name
	cur := i
	if name == "$db" {
		if !fields[cur].isString {
			return badRef("The DBRef $db field must be a String")
		}
		cur--
		if cur < 0 || fields[cur].name != "$id" {
			return badRef("Found $db field without a $id before it, which is invalid.")
		}
		name = "$id"
	}
	if name == "$id" {
		cur--
		if cur < 0 || fields[cur].name != "$ref" {
			return badRef("Found $id field without a $ref before it, which is invalid.")
		}
		name = "$ref"
	}
	if name == "$ref" {
		if !fields[cur].isString {
			return badRef("The DBRef $ref field must be a String")
		}
		if cur+1 >= len(fields) || fields[cur+1].name != "$id" {
			return badRef("The DBRef $ref field must be followed by a $id field")
		}
		return nil
	}
	return mongoerr.New(mongoerr.DollarPrefixedFieldName,
		"The dollar ($) prefixed field '%s' in '%s' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.",
		fields[i].name, fields[i].name)
}
