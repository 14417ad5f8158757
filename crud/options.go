package crud

import (
	"cmp"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// CommonOptions are the options that several operations share, each
// checked, decoded and sent the same way whatever the operation. It is
// embedded in each operation's options. An operation takes those that
// the driver's options for its command (or its bulk write model) take;
// MaxTime is taken by FindOne, Find, CountDocuments, Distinct and
// Aggregate. Any other that is set is refused with an *ArgError rather
// than dropped.
type CommonOptions struct {
	// MaxTime limits the server-side execution time; 0 means none. For
	// Find and Aggregate it bounds all batches together.
	MaxTime    time.Duration
	Projection *Document
	Sort       *Document
	// Hint is the index to use by key pattern; HintName by name. At most
	// one is set.
	Hint                     *Document
	HintName                 string
	Let                      *Document
	Collation                *Document
	Comment                  string
	BypassDocumentValidation bool
}

// The setters of CommonOptions on the driver's option builders and write
// models, B being the builder's type. Not every builder has every one.
type (
	projectionSetter[B any] interface{ SetProjection(any) B }
	sortSetter[B any]       interface{ SetSort(any) B }
	hintSetter[B any]       interface{ SetHint(any) B }
	letSetter[B any]        interface{ SetLet(any) B }
	collationSetter[B any]  interface{ SetCollation(*options.Collation) B }
	commentSetter[B any]    interface{ SetComment(any) B }
	bypassSetter[B any]     interface{ SetBypassDocumentValidation(bool) B }
)

// applyCommon checks and decodes c and sets it on o, the driver's options
// builder or write model for the operation. prefix is the path of the
// message holding the options: "options." or e.g.
// "models[2].update_one.". timed says whether the operation honours
// MaxTime, which is not a builder option (see withMaxTime).
func applyCommon[B any](o B, prefix string, c CommonOptions, timed bool) error {
	if c.MaxTime != 0 {
		if !timed {
			return notAnOption(prefix, "max_time")
		}
		if err := maxTimeArg(prefix+"max_time", c.MaxTime); err != nil {
			return err
		}
	}
	projection, err := optionArg(prefix, "projection", c.Projection)
	if err != nil {
		return err
	}
	sort, err := optionArg(prefix, "sort", c.Sort)
	if err != nil {
		return err
	}
	hint, err := hintArg(prefix, c.Hint, c.HintName)
	if err != nil {
		return err
	}
	let, err := optionArg(prefix, "let", c.Let)
	if err != nil {
		return err
	}
	var collation *options.Collation
	if c.Collation != nil {
		if collation, err = collationArg(prefix+"collation", c.Collation); err != nil {
			return err
		}
	}
	b := any(o)
	return cmp.Or(
		set(b, projection != nil, prefix, "projection", func(s projectionSetter[B]) { s.SetProjection(projection) }),
		set(b, sort != nil, prefix, "sort", func(s sortSetter[B]) { s.SetSort(sort) }),
		set(b, hint != nil, prefix, "hint", func(s hintSetter[B]) { s.SetHint(hint) }),
		set(b, let != nil, prefix, "let", func(s letSetter[B]) { s.SetLet(let) }),
		set(b, collation != nil, prefix, "collation", func(s collationSetter[B]) { s.SetCollation(collation) }),
		set(b, c.Comment != "", prefix, "comment", func(s commentSetter[B]) { s.SetComment(c.Comment) }),
		set(b, c.BypassDocumentValidation, prefix, "bypass_document_validation",
			func(s bypassSetter[B]) { s.SetBypassDocumentValidation(true) }),
	)
}

// optionArg is decodeArg for the document option name of the message at
// prefix. The field path is built only for an option that is set: most
// are not, on every request.
func optionArg(prefix, name string, d *Document) (bson.Raw, error) {
	if d == nil {
		return nil, nil
	}
	return decodeArg(prefix+name, d)
}

// set applies an option that is wanted to o, which must then be an S:
// otherwise the operation has no such option.
func set[S any](o any, want bool, prefix, name string, apply func(S)) error {
	if !want {
		return nil
	}
	s, ok := o.(S)
	if !ok {
		return notAnOption(prefix, name)
	}
	apply(s)
	return nil
}

func notAnOption(prefix, name string) error {
	return &ArgError{Field: prefix + name, Reason: "not an option of this operation"}
}

// updateSetter is what the option builders and write models of updates
// have beyond CommonOptions.
type updateSetter[B any] interface {
	SetArrayFilters([]any) B
	SetUpsert(bool) B
}

// applyUpdate is applyCommon for an update, which has array filters and
// upsert besides.
func applyUpdate[B updateSetter[B]](o B, prefix string, arrayFilters []Document, upsert bool, c CommonOptions) error {
	af, err := arrayFiltersArg(prefix+"array_filters", arrayFilters)
	if err != nil {
		return err
	}
	if af != nil {
		o.SetArrayFilters(af)
	}
	if upsert {
		o.SetUpsert(true)
	}
	return applyCommon(o, prefix, c, false)
}

func arrayFiltersArg(field string, ds []Document) ([]any, error) {
	raws, err := listArg(field, ds)
	if err != nil || raws == nil {
		return nil, err
	}
	out := make([]any, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out, nil
}
