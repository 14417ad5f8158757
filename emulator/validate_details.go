package emulator

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/value"
)

// validationDetails explains why doc fails rule in the shape of MongoDB
// 5.0+'s errInfo.details (doc_validation_error.cpp): for one clause its
// operatorName, specifiedAs and reason; for several an implicit "$and"
// with clausesNotSatisfied; for $jsonSchema schemaRulesNotSatisfied with
// per-keyword entries. The emulator explains the common operators and
// keywords; any other gives operatorName and specifiedAs alone.
func validationDetails(rule bson.D, doc bson.D) bson.D {
	var clauses []bson.E
	for _, e := range rule {
		if !clauseMatches(bson.D{e}, doc) {
			clauses = append(clauses, e)
		}
	}
	if len(rule) == 1 && len(clauses) == 1 {
		return clauseDetails(clauses[0], doc)
	}
	return andDetails(rule, doc)
}

func andDetails(rule bson.D, doc bson.D) bson.D {
	failed := bson.A{}
	for i, e := range rule {
		if !clauseMatches(bson.D{e}, doc) {
			failed = append(failed, bson.D{{Key: "index", Value: int32(i)}, {Key: "details", Value: clauseDetails(e, doc)}})
		}
	}
	return bson.D{{Key: "operatorName", Value: "$and"}, {Key: "clausesNotSatisfied", Value: failed}}
}

func clauseMatches(filter bson.D, doc bson.D) bool {
	f, err := compileFilter(filter, nil)
	if err != nil {
		return false
	}
	ok, err := f.Match(doc)
	return err == nil && ok
}

func clauseDetails(e bson.E, doc bson.D) bson.D {
	switch e.Key {
	case "$jsonSchema":
		schema, _ := e.Value.(bson.D)
		return bson.D{{Key: "operatorName", Value: "$jsonSchema"},
			{Key: "schemaRulesNotSatisfied", Value: schemaFailures(schema, doc)}}
	case "$and", "$or", "$nor":
		arr, _ := e.Value.(bson.A)
		failed := bson.A{}
		for i, sub := range arr {
			d, _ := sub.(bson.D)
			matched := clauseMatches(d, doc)
			if (e.Key == "$nor") == matched {
				failed = append(failed, bson.D{{Key: "index", Value: int32(i)}, {Key: "details", Value: validationDetails(d, doc)}})
			}
		}
		return bson.D{{Key: "operatorName", Value: e.Key}, {Key: "clausesNotSatisfied", Value: failed}}
	case "$expr":
		return bson.D{{Key: "operatorName", Value: "$expr"}, {Key: "specifiedAs", Value: bson.D{e}},
			{Key: "reason", Value: "expression did not match"}, {Key: "expressionResult", Value: false}}
	}
	if strings.HasPrefix(e.Key, "$") {
		return bson.D{{Key: "operatorName", Value: e.Key}, {Key: "specifiedAs", Value: bson.D{e}}}
	}
	ops, isOps := e.Value.(bson.D)
	if !isOps || len(ops) == 0 || !strings.HasPrefix(ops[0].Key, "$") {
		return fieldDetails(e.Key, "$eq", e.Value, bson.D{e}, doc)
	}
	if len(ops) == 1 {
		return fieldDetails(e.Key, ops[0].Key, ops[0].Value, bson.D{e}, doc)
	}
	failed := bson.A{}
	for i, op := range ops {
		one := bson.D{{Key: e.Key, Value: bson.D{op}}}
		if !clauseMatches(one, doc) {
			failed = append(failed, bson.D{{Key: "index", Value: int32(i)},
				{Key: "details", Value: fieldDetails(e.Key, op.Key, op.Value, one, doc)}})
		}
	}
	return bson.D{{Key: "operatorName", Value: "$and"}, {Key: "clausesNotSatisfied", Value: failed}}
}

// fieldDetails explains one operator on one field.
func fieldDetails(path, op string, arg any, specified bson.D, doc bson.D) bson.D {
	out := bson.D{{Key: "operatorName", Value: op}, {Key: "specifiedAs", Value: specified}}
	v, present := value.Get(doc, path)
	switch op {
	case "$exists":
		if value.Truthy(arg) {
			return append(out, bson.E{Key: "reason", Value: "path does not exist"})
		}
		return append(out, bson.E{Key: "reason", Value: "path does exist"}, bson.E{Key: "consideredValue", Value: v})
	}
	if !present {
		return append(out, bson.E{Key: "reason", Value: "field was missing"})
	}
	switch op {
	case "$type":
		return append(out, bson.E{Key: "reason", Value: "type did not match"},
			bson.E{Key: "consideredValue", Value: v}, bson.E{Key: "consideredType", Value: value.TypeAlias(v)})
	case "$in":
		return append(out, bson.E{Key: "reason", Value: "no matching value found in array"}, bson.E{Key: "consideredValue", Value: v})
	case "$nin":
		return append(out, bson.E{Key: "reason", Value: "matching value found in array"}, bson.E{Key: "consideredValue", Value: v})
	case "$regex":
		return append(out, bson.E{Key: "reason", Value: "regular expression did not match"}, bson.E{Key: "consideredValue", Value: v})
	}
	return append(out, bson.E{Key: "reason", Value: "comparison failed"}, bson.E{Key: "consideredValue", Value: v})
}

// schemaFailures lists the keywords of schema that doc (an object at the
// top level) fails, each as {operatorName, specifiedAs, …}.
func schemaFailures(schema bson.D, v any) bson.A {
	out := bson.A{}
	doc, isDoc := v.(bson.D)
	for _, kw := range schema {
		switch kw.Key {
		case "title", "description":
			continue
		case "required":
			if !isDoc {
				continue
			}
			var missing bson.A
			names, _ := kw.Value.(bson.A)
			for _, n := range names {
				s, _ := n.(string)
				if _, ok := value.Lookup(doc, s); !ok {
					missing = append(missing, s)
				}
			}
			if len(missing) > 0 {
				out = append(out, bson.D{{Key: "operatorName", Value: "required"},
					{Key: "specifiedAs", Value: bson.D{kw}}, {Key: "missingProperties", Value: missing}})
			}
		case "properties":
			if !isDoc {
				continue
			}
			props, _ := kw.Value.(bson.D)
			var failed bson.A
			for _, p := range props {
				pv, ok := value.Lookup(doc, p.Key)
				sub, _ := p.Value.(bson.D)
				if !ok || valueSatisfies(sub, pv) {
					continue
				}
				entry := bson.D{{Key: "propertyName", Value: p.Key}}
				if d, ok := value.Lookup(sub, "description"); ok {
					entry = append(entry, bson.E{Key: "description", Value: d})
				}
				failed = append(failed, append(entry, bson.E{Key: "details", Value: schemaFailures(sub, pv)}))
			}
			if len(failed) > 0 {
				out = append(out, bson.D{{Key: "operatorName", Value: "properties"}, {Key: "propertiesNotSatisfied", Value: failed}})
			}
		case "additionalProperties":
			if !isDoc || valueSatisfies(bson.D{kw, {Key: "properties", Value: lookupDoc(schema, "properties")}, {Key: "patternProperties", Value: lookupDoc(schema, "patternProperties")}}, doc) {
				continue
			}
			var extra bson.A
			props := lookupDoc(schema, "properties")
			for _, e := range doc {
				if _, ok := value.Lookup(props, e.Key); !ok {
					extra = append(extra, e.Key)
				}
			}
			out = append(out, bson.D{{Key: "operatorName", Value: "additionalProperties"},
				{Key: "specifiedAs", Value: bson.D{kw}}, {Key: "additionalProperties", Value: extra}})
		default:
			if valueSatisfies(bson.D{kw}, v) {
				continue
			}
			out = append(out, keywordFailure(kw, v))
		}
	}
	return out
}

func lookupDoc(d bson.D, key string) bson.D {
	v, _ := value.Lookup(d, key)
	sub, _ := v.(bson.D)
	if sub == nil {
		return bson.D{}
	}
	return sub
}

// keywordFailure describes one failed keyword applied to v.
func keywordFailure(kw bson.E, v any) bson.D {
	out := bson.D{{Key: "operatorName", Value: kw.Key}, {Key: "specifiedAs", Value: bson.D{kw}}}
	reason := ""
	switch kw.Key {
	case "bsonType", "type":
		return append(out, bson.E{Key: "reason", Value: "type did not match"},
			bson.E{Key: "consideredValue", Value: v}, bson.E{Key: "consideredType", Value: value.TypeAlias(v)})
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		reason = "comparison failed"
	case "enum":
		reason = "value was not found in enum"
	case "pattern":
		reason = "regular expression did not match"
	case "minLength", "maxLength":
		reason = "specified string length was not satisfied"
	case "minItems", "maxItems":
		reason = "array did not match specified length"
	case "uniqueItems":
		reason = "found a duplicate item"
	case "multipleOf":
		reason = "considered value is not a multiple of the specified value"
	default:
		return out
	}
	return append(out, bson.E{Key: "reason", Value: reason}, bson.E{Key: "consideredValue", Value: v})
}

// valueSatisfies reports whether v satisfies schema, evaluated as the
// schema of a property.
func valueSatisfies(schema bson.D, v any) bool {
	return clauseMatches(bson.D{{Key: "$jsonSchema", Value: bson.D{
		{Key: "properties", Value: bson.D{{Key: "v", Value: schema}}},
	}}}, bson.D{{Key: "v", Value: v}})
}
