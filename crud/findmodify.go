package crud

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// singleResult turns the driver's single result into a DocumentResult:
// no document is a nil Document, not an error.
func singleResult(name string, ns Namespace, sr *mongo.SingleResult) (*DocumentResult, error) {
	raw, err := sr.Raw()
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return &DocumentResult{}, nil
	case err != nil:
		return nil, opError(name, ns, err)
	}
	return &DocumentResult{Document: raw}, nil
}

func returnDocumentArg(rd ReturnDocument) (options.ReturnDocument, error) {
	switch rd {
	case ReturnBefore:
		return options.Before, nil
	case ReturnAfter:
		return options.After, nil
	}
	return 0, &ArgError{Field: "options.return_document", Reason: fmt.Sprintf("unknown value %d", int(rd))}
}

// FindOneAndUpdateOptions are the options of FindOneAndUpdate.
type FindOneAndUpdateOptions struct {
	ReturnDocument ReturnDocument
	Upsert         bool
	ArrayFilters   []Document
	CommonOptions
}

// FindOneAndUpdate updates the first document that matches a filter and
// returns it, as it was before or after the update.
type FindOneAndUpdate struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Update    Update
	Options   FindOneAndUpdateOptions
}

func (op FindOneAndUpdate) prepare() (bson.Raw, any, *options.FindOneAndUpdateOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, nil, err
	}
	filter, err := filterArg(op.Filter, true)
	if err != nil {
		return nil, nil, nil, err
	}
	update, err := op.Update.arg("")
	if err != nil {
		return nil, nil, nil, err
	}
	rd, err := returnDocumentArg(op.Options.ReturnDocument)
	if err != nil {
		return nil, nil, nil, err
	}
	o := options.FindOneAndUpdate().SetReturnDocument(rd)
	return filter, update, o, applyUpdate(o, "options.", op.Options.ArrayFilters, op.Options.Upsert, op.Options.CommonOptions)
}

// Validate implements Op.
func (op FindOneAndUpdate) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op FindOneAndUpdate) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the find-and-modify.
func (op FindOneAndUpdate) Do(ctx context.Context, t Target) (*DocumentResult, error) {
	filter, update, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	return singleResult("findOneAndUpdate", op.Namespace, coll.FindOneAndUpdate(ctx, filter, update, o))
}

// FindOneAndReplaceOptions are the options of FindOneAndReplace.
type FindOneAndReplaceOptions struct {
	ReturnDocument ReturnDocument
	Upsert         bool
	CommonOptions
}

// FindOneAndReplace replaces the first document that matches a filter and
// returns it, as it was before or after the replacement.
type FindOneAndReplace struct {
	Namespace   Namespace
	Filter      *Document // required; {} matches every document
	Replacement *Document // required; a whole document, no update operators
	Options     FindOneAndReplaceOptions
}

func (op FindOneAndReplace) prepare() (bson.Raw, bson.Raw, *options.FindOneAndReplaceOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, nil, err
	}
	filter, err := filterArg(op.Filter, true)
	if err != nil {
		return nil, nil, nil, err
	}
	repl, err := replacementArg("replacement", op.Replacement)
	if err != nil {
		return nil, nil, nil, err
	}
	rd, err := returnDocumentArg(op.Options.ReturnDocument)
	if err != nil {
		return nil, nil, nil, err
	}
	o := options.FindOneAndReplace().SetReturnDocument(rd)
	if op.Options.Upsert {
		o.SetUpsert(true)
	}
	return filter, repl, o, applyCommon(o, "options.", op.Options.CommonOptions, false)
}

// Validate implements Op.
func (op FindOneAndReplace) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op FindOneAndReplace) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the find-and-modify.
func (op FindOneAndReplace) Do(ctx context.Context, t Target) (*DocumentResult, error) {
	filter, repl, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	return singleResult("findOneAndReplace", op.Namespace, coll.FindOneAndReplace(ctx, filter, repl, o))
}

// FindOneAndDeleteOptions are the options of FindOneAndDelete.
type FindOneAndDeleteOptions struct {
	CommonOptions
}

// FindOneAndDelete deletes the first document that matches a filter and
// returns it.
type FindOneAndDelete struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Options   FindOneAndDeleteOptions
}

func (op FindOneAndDelete) prepare() (bson.Raw, *options.FindOneAndDeleteOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	filter, err := filterArg(op.Filter, true)
	if err != nil {
		return nil, nil, err
	}
	o := options.FindOneAndDelete()
	return filter, o, applyCommon(o, "options.", op.Options.CommonOptions, false)
}

// Validate implements Op.
func (op FindOneAndDelete) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op FindOneAndDelete) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the find-and-modify.
func (op FindOneAndDelete) Do(ctx context.Context, t Target) (*DocumentResult, error) {
	filter, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	return singleResult("findOneAndDelete", op.Namespace, coll.FindOneAndDelete(ctx, filter, o))
}
