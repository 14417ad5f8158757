package emulator

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// Schema validation (MongoDB manual, "Schema Validation",
// https://www.mongodb.com/docs/v7.0/core/schema-validation/): a collection's
// validator is a query filter, which may use $jsonSchema, that every
// inserted or updated document must match. validationLevel "strict"
// checks every write, "moderate" only updates of documents that already
// match, "off" none; validationAction "error" refuses the write with
// DocumentValidationFailure (121), "warn" logs and lets it through. A
// write command with bypassDocumentValidation: true skips the check. The
// refusal carries errInfo {failingDocumentId, details} as MongoDB 5.0+
// reports it (manual, "Specify Validation Rules": "View the validation
// error details"; mongodb/mongo src/mongo/db/matcher/doc_validation_error.cpp).
//
// Known difference: details explain the comparison, $exists, $type, $in,
// $nin, $regex, $expr and logical operators and the $jsonSchema keywords
// required, properties, additionalProperties, bsonType/type, the numeric
// and length bounds, enum and pattern; other operators and keywords are
// reported with operatorName and specifiedAs only.

// validator is a collection's document validation.
type validator struct {
	rule   bson.D
	level  string // "strict", "moderate" or "off"
	action string // "error" or "warn"
}

// parseValidation reads validator, validationLevel and validationAction
// from create or collMod options over old (nil at create) and returns the
// result (nil when there is no validator) and the options with the three
// stored as listCollections reports them.
func parseValidation(opts bson.D, old *validator) (*validator, bson.D, error) {
	v := validator{level: "strict", action: "error"}
	if old != nil {
		v = *old
	}
	present := false
	for _, e := range opts {
		switch e.Key {
		case "validator":
			d, ok := e.Value.(bson.D)
			if !ok {
				return nil, nil, wrongType("create", "validator", e.Value, "object")
			}
			if err := checkValidatorRule(d); err != nil {
				return nil, nil, err
			}
			v.rule, present = d, true
		case "validationLevel":
			s, _ := e.Value.(string)
			if s != "strict" && s != "moderate" && s != "off" {
				return nil, nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%v' for field 'validationLevel' is not a valid value.", e.Value)
			}
			v.level, present = s, true
		case "validationAction":
			s, _ := e.Value.(string)
			if s != "error" && s != "warn" {
				return nil, nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%v' for field 'validationAction' is not a valid value.", e.Value)
			}
			v.action, present = s, true
		}
	}
	out := withoutField(withoutField(withoutField(opts, "validator"), "validationLevel"), "validationAction")
	if !present && old == nil {
		return nil, out, nil
	}
	rule := v.rule
	if rule == nil {
		rule = bson.D{}
	}
	out = append(out, bson.E{Key: "validator", Value: rule},
		bson.E{Key: "validationLevel", Value: v.level},
		bson.E{Key: "validationAction", Value: v.action})
	return &v, out, nil
}

// checkValidatorRule refuses what MongoDB does not allow in a validator
// and compiles the rest.
func checkValidatorRule(rule bson.D) error {
	for _, e := range rule {
		switch e.Key {
		case "$where", "$near", "$nearSphere", "$text", "$geoNear":
			return mongoerr.New(mongoerr.InvalidOptions, "%s is not allowed in collection validators", e.Key)
		}
	}
	_, err := compileFilter(rule, nil)
	return err
}

// validateWrite checks doc, about to replace old (nil for an insert),
// against c's validator.
func (x *exec) validateWrite(c *collection, old, doc bson.D) error {
	v := c.ext.validator
	if v == nil || len(v.rule) == 0 || v.level == "off" || x.boolArg("bypassDocumentValidation") {
		return nil
	}
	f, err := compileFilterColl(v.rule, nil, c.ext.collator)
	if err != nil {
		return err
	}
	if ok, err := f.Match(doc); err != nil || ok {
		return err
	}
	if old != nil && v.level == "moderate" {
		if wasValid, err := f.Match(old); err != nil || !wasValid {
			return err
		}
	}
	id, _ := value.Lookup(doc, "_id")
	errInfo := bson.D{{Key: "failingDocumentId", Value: id}, {Key: "details", Value: validationDetails(v.rule, doc)}}
	if v.action == "warn" {
		x.s.log.Warn("Document would fail validation", "namespace", c.db+"."+c.name, "errInfo", errInfo)
		return nil
	}
	e := mongoerr.New(mongoerr.DocumentValidationFailure, "Document failed validation")
	e.Info = map[string]any{"errInfo": errInfo}
	return e
}

// collModValidation applies collMod's validation options to c.
func (x *exec) collModValidation(c *collection, opts bson.D) error {
	v, out, err := parseValidation(opts, c.ext.validator)
	if err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if c.ext.view != nil {
		return mongoerr.New(mongoerr.InvalidOptions, "view does not support validation options")
	}
	rest := withoutField(withoutField(withoutField(c.options, "validator"), "validationLevel"), "validationAction")
	for _, e := range out {
		switch e.Key {
		case "validator", "validationLevel", "validationAction":
			rest = append(rest, e)
		}
	}
	c.ext.validator = v
	c.options = rest
	return nil
}
