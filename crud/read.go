package crud

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// withMaxTime bounds ctx by a max_time, if one is set. The driver derives
// the command's maxTimeMS from the deadline (it has no other way to send
// one), so MongoDB enforces the limit and reports MaxTimeMSExpired.
func withMaxTime(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// FindOneOptions are the options of FindOne.
type FindOneOptions struct {
	Skip int64
	CommonOptions
}

// FindOne returns the first document that matches a filter, if any.
type FindOne struct {
	Namespace Namespace
	Filter    *Document // nil matches every document
	Options   FindOneOptions
}

func (op FindOne) prepare() (bson.Raw, *options.FindOneOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	filter, err := filterArg(op.Filter, false)
	if err != nil {
		return nil, nil, err
	}
	if err := nonNegative("options.skip", op.Options.Skip); err != nil {
		return nil, nil, err
	}
	o := options.FindOne()
	if op.Options.Skip > 0 {
		o.SetSkip(op.Options.Skip)
	}
	return filter, o, applyCommon(o, "options.", op.Options.CommonOptions, true)
}

// Validate implements Op.
func (op FindOne) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op FindOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the find.
func (op FindOne) Do(ctx context.Context, t Target) (*DocumentResult, error) {
	filter, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withMaxTime(ctx, op.Options.MaxTime)
	defer cancel()
	return singleResult("findOne", op.Namespace, coll.FindOne(ctx, filter, o))
}

// CountOptions are the options of CountDocuments.
type CountOptions struct {
	Skip int64
	// Limit caps the count; 0 means no limit.
	Limit int64
	CommonOptions
}

// CountDocuments counts the documents that match a filter.
type CountDocuments struct {
	Namespace Namespace
	Filter    *Document // nil counts every document
	Options   CountOptions
}

func (op CountDocuments) prepare() (bson.Raw, *options.CountOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	filter, err := filterArg(op.Filter, false)
	if err != nil {
		return nil, nil, err
	}
	oo := op.Options
	if err := nonNegative("options.skip", oo.Skip); err != nil {
		return nil, nil, err
	}
	if err := nonNegative("options.limit", oo.Limit); err != nil {
		return nil, nil, err
	}
	o := options.Count()
	if oo.Skip > 0 {
		o.SetSkip(oo.Skip)
	}
	if oo.Limit > 0 {
		o.SetLimit(oo.Limit)
	}
	return filter, o, applyCommon(o, "options.", oo.CommonOptions, true)
}

// Validate implements Op.
func (op CountDocuments) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op CountDocuments) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the count.
func (op CountDocuments) Do(ctx context.Context, t Target) (*CountResult, error) {
	filter, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withMaxTime(ctx, op.Options.MaxTime)
	defer cancel()
	n, err := coll.CountDocuments(ctx, filter, o)
	if err != nil {
		return nil, opError("countDocuments", op.Namespace, err)
	}
	return &CountResult{Count: n}, nil
}

// DistinctOptions are the options of Distinct.
type DistinctOptions struct {
	CommonOptions
}

// Distinct returns the distinct values of a field among the documents that
// match a filter.
type Distinct struct {
	Namespace Namespace
	// FieldName is the field whose values to collect, dotted for embedded
	// fields. Required.
	FieldName string
	Filter    *Document // nil means every document
	Options   DistinctOptions
}

func (op Distinct) prepare() (bson.Raw, *options.DistinctOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	if op.FieldName == "" {
		return nil, nil, &ArgError{Field: "field_name", Reason: "required, e.g. \"address.city\""}
	}
	filter, err := filterArg(op.Filter, false)
	if err != nil {
		return nil, nil, err
	}
	o := options.Distinct()
	return filter, o, applyCommon(o, "options.", op.Options.CommonOptions, true)
}

// Validate implements Op.
func (op Distinct) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op Distinct) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the distinct.
func (op Distinct) Do(ctx context.Context, t Target) (*DistinctResult, error) {
	filter, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withMaxTime(ctx, op.Options.MaxTime)
	defer cancel()
	arr, err := coll.Distinct(ctx, op.FieldName, filter, o).Raw()
	if err != nil {
		return nil, opError("distinct", op.Namespace, err)
	}
	values, err := arr.Values()
	if err != nil {
		return nil, opError("distinct", op.Namespace, err)
	}
	return &DistinctResult{Values: values}, nil
}
