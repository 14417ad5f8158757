// Package collation gives the emulator MongoDB's collations: the parsing and
// validation of a collation document, the full specification MongoDB
// reports for it, and string comparison and comparison keys through
// golang.org/x/text/collate, an implementation of the Unicode Collation
// Algorithm with CLDR tailorings as MongoDB's ICU is.
//
// MongoDB manual, "Collation" (https://www.mongodb.com/docs/v7.0/reference/collation/):
// a collation document is {locale, caseLevel, caseFirst, strength,
// numericOrdering, alternate, maxVariable, backwards, normalization}; locale
// "simple" is binary comparison. Parsing and errors follow mongodb/mongo
// src/mongo/db/query/collation/collator_factory_icu.cpp (FailedToParse for a
// bad option value or an unknown field, BadValue for a bad locale or an
// invalid combination).
//
// Known differences from MongoDB's ICU collator:
//   - a locale is accepted when it is a well-formed BCP 47 / ICU locale
//     identifier; collation uses its CLDR tailoring when x/text has one and
//     the root order otherwise, where MongoDB rejects locales ICU lacks;
//     ICU keyword variants ("de@collation=phonebook") are refused;
//   - caseFirst "upper" is done by swapping the case of letters before
//     comparing, which matches ICU for cased letters; caseFirst "lower"
//     behaves like "off", as it does in ICU's root order;
//   - caseLevel adds the whole tertiary level (case and width), where ICU
//     adds case alone;
//   - maxVariable "space" is treated as "punct": with alternate "shifted"
//     punctuation as well as spaces is ignorable;
//   - the version reported is ICU 57.1's, as MongoDB 7.0 reports.
package collation

import (
	"bytes"
	"strings"
	"sync"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// icuVersion is the collator version MongoDB 7.0 reports ("57.1").
const icuVersion = "57.1"

// Spec is a parsed collation document with every option set.
type Spec struct {
	Locale          string
	CaseLevel       bool
	CaseFirst       string // "upper", "lower" or "off"
	Strength        int    // 1..5
	NumericOrdering bool
	Alternate       string // "non-ignorable" or "shifted"
	MaxVariable     string // "punct" or "space"
	Normalization   bool
	Backwards       bool
}

// Collator compares strings under one collation. It is safe for concurrent
// use. A nil *Collator is the simple binary collation.
type Collator struct {
	spec Spec
	mu   sync.Mutex
	c    *collate.Collator
	buf  collate.Buffer
}

// Parse reads a collation document. It returns nil, nil for
// {locale: "simple"}.
func Parse(d bson.D) (*Collator, error) {
	locV, ok := value.Lookup(d, "locale")
	if !ok {
		return nil, mongoerr.New(mongoerr.NoSuchKey, "Missing expected field \"locale\"")
	}
	loc, isStr := locV.(string)
	if !isStr {
		return nil, mongoerr.New(mongoerr.TypeMismatch, "\"locale\" had the wrong type. Expected string, found %s", value.TypeAlias(locV))
	}
	if strings.ContainsRune(loc, 0) {
		return nil, mongoerr.New(mongoerr.BadValue, "Field 'locale' cannot contain null byte. Collation spec: %v", d)
	}
	if loc == "simple" {
		if len(d) > 1 {
			return nil, mongoerr.New(mongoerr.FailedToParse, "If locale=simple, no other fields should be present in: %v", d)
		}
		return nil, nil
	}
	if loc == "" {
		return nil, mongoerr.New(mongoerr.BadValue, "Field 'locale' cannot be the empty string in: %v", d)
	}
	tag, err := language.Parse(strings.ReplaceAll(loc, "_", "-"))
	if err != nil || strings.ContainsAny(loc, "@=") {
		return nil, mongoerr.New(mongoerr.BadValue, "Field 'locale' is invalid in: %v", d)
	}
	s := Spec{Locale: loc, CaseFirst: "off", Strength: 3, Alternate: "non-ignorable", MaxVariable: "punct"}
	for _, e := range d {
		var err error
		switch e.Key {
		case "locale":
		case "caseLevel":
			s.CaseLevel, err = boolOpt(e)
		case "caseFirst":
			s.CaseFirst, err = enumOpt(e, "upper", "lower", "off")
		case "strength":
			n, ok := value.ToInt64(e.Value)
			if !ok {
				return nil, mongoerr.New(mongoerr.TypeMismatch, "\"strength\" had the wrong type. Expected number, found %s", value.TypeAlias(e.Value))
			}
			if n < 1 || n > 5 {
				return nil, mongoerr.New(mongoerr.FailedToParse, "Field 'strength' must be an integer 1 through 5. Got: %d", n)
			}
			s.Strength = int(n)
		case "numericOrdering":
			s.NumericOrdering, err = boolOpt(e)
		case "alternate":
			s.Alternate, err = enumOpt(e, "non-ignorable", "shifted")
		case "maxVariable":
			s.MaxVariable, err = enumOpt(e, "punct", "space")
		case "normalization":
			s.Normalization, err = boolOpt(e)
		case "backwards":
			s.Backwards, err = boolOpt(e)
		case "version":
			if v, _ := e.Value.(string); v != icuVersion {
				return nil, mongoerr.New(161, "Requested collation version %v but the only available collator version was %s. Requested collation spec: %v", e.Value, icuVersion, d)
			}
		default:
			return nil, mongoerr.New(mongoerr.FailedToParse, "Collation spec contains unknown field. Collation spec: %v", d)
		}
		if err != nil {
			return nil, err
		}
	}
	if s.Backwards && s.Strength == 1 {
		return nil, mongoerr.New(mongoerr.BadValue, "'backwards' is invalid with 'strength' of 1 in: %v", s.Doc())
	}
	if s.CaseFirst != "off" && !s.CaseLevel && s.Strength < 3 {
		return nil, mongoerr.New(mongoerr.BadValue, "'caseFirst' is invalid unless 'caseLevel' is on or 'strength' is greater than 2 in: %v", s.Doc())
	}
	return New(s, tag), nil
}

func boolOpt(e bson.E) (bool, error) {
	b, ok := e.Value.(bool)
	if !ok {
		return false, mongoerr.New(mongoerr.TypeMismatch, "\"%s\" had the wrong type. Expected bool, found %s", e.Key, value.TypeAlias(e.Value))
	}
	return b, nil
}

func enumOpt(e bson.E, allowed ...string) (string, error) {
	s, ok := e.Value.(string)
	if !ok {
		return "", mongoerr.New(mongoerr.TypeMismatch, "\"%s\" had the wrong type. Expected string, found %s", e.Key, value.TypeAlias(e.Value))
	}
	for _, a := range allowed {
		if s == a {
			return s, nil
		}
	}
	return "", mongoerr.New(mongoerr.FailedToParse, "Field '%s' must be one of '%s'. Got: %s", e.Key, strings.Join(allowed, "', '"), s)
}

// New builds the collator for a validated spec and its locale's tag.
func New(s Spec, tag language.Tag) *Collator {
	var ext []string
	switch s.Strength {
	case 1:
		ext = append(ext, "ks-level1")
	case 2:
		ext = append(ext, "ks-level2")
	case 4:
		ext = append(ext, "ks-level4")
	case 5:
		ext = append(ext, "ks-identic")
	}
	if s.CaseLevel {
		ext = append(ext, "kc-true")
	}
	if s.NumericOrdering {
		ext = append(ext, "kn-true")
	}
	if s.Alternate == "shifted" {
		ext = append(ext, "ka-shifted")
	}
	if s.Backwards {
		ext = append(ext, "kb-true")
	}
	base, _ := tag.Base()
	t := language.Make(base.String())
	if region, conf := tag.Region(); conf == language.Exact {
		t, _ = language.Compose(base, region)
	}
	opts := collate.OptionsFromTag(t)
	if len(ext) > 0 {
		ut, err := language.Parse(t.String() + "-u-" + strings.Join(ext, "-"))
		if err == nil {
			opts = collate.OptionsFromTag(ut)
		}
	}
	return &Collator{spec: s, c: collate.New(t, opts)}
}

// Spec returns the collator's options; the zero Spec for nil.
func (c *Collator) Spec() Spec {
	if c == nil {
		return Spec{Locale: "simple"}
	}
	return c.spec
}

// Doc is the collation document as MongoDB reports it (listIndexes,
// listCollections, explain): every option, in MongoDB's order.
func (s Spec) Doc() bson.D {
	if s.Locale == "simple" || s.Locale == "" {
		return bson.D{{Key: "locale", Value: "simple"}}
	}
	return bson.D{
		{Key: "locale", Value: s.Locale},
		{Key: "caseLevel", Value: s.CaseLevel},
		{Key: "caseFirst", Value: s.CaseFirst},
		{Key: "strength", Value: int32(s.Strength)},
		{Key: "numericOrdering", Value: s.NumericOrdering},
		{Key: "alternate", Value: s.Alternate},
		{Key: "maxVariable", Value: s.MaxVariable},
		{Key: "normalization", Value: s.Normalization},
		{Key: "backwards", Value: s.Backwards},
		{Key: "version", Value: icuVersion},
	}
}

// Doc is c's full collation document; {locale: "simple"} for nil.
func (c *Collator) Doc() bson.D { return c.Spec().Doc() }

// Equal reports whether a and b are the same collation (nil is simple).
func Equal(a, b *Collator) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.spec == b.spec
}

// CompareStrings orders a and b under the collation.
func (c *Collator) CompareStrings(a, b string) int {
	if c == nil {
		return strings.Compare(a, b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ka := append([]byte(nil), c.keyLocked(a)...)
	return bytes.Compare(ka, c.keyLocked(b))
}

// StringKey returns a string equal for two strings exactly when they
// compare equal under the collation, and ordered as they are (ICU's sort
// key, which MongoDB stores in collation-aware indexes:
// collation_index_key.cpp).
func (c *Collator) StringKey(s string) string {
	if c == nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.keyLocked(s))
}

func (c *Collator) keyLocked(s string) []byte {
	if c.spec.CaseFirst == "upper" {
		s = swapCase(s)
	}
	c.buf.Reset()
	return c.c.KeyFromString(&c.buf, s)
}

// swapCase turns upper case into lower case and back: the root order puts
// lower case first at the tertiary level, so comparing swapped strings puts
// upper case first without changing the primary and secondary levels.
func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}
