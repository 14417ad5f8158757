package crud

import (
	"context"
	"encoding/binary"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// ensureID returns doc with an _id, adding a new ObjectId first if it has
// none (as MongoDB drivers do), and the _id.
func ensureID(doc bson.Raw) (bson.Raw, bson.RawValue) {
	if v, err := doc.LookupErr("_id"); err == nil {
		return doc, v
	}
	oid := bson.NewObjectID()
	out := make([]byte, 4, len(doc)+17)
	out = bsoncore.AppendObjectIDElement(out, "_id", oid)
	out = append(out, doc[4:]...)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return bson.Raw(out), bson.RawValue{Type: bson.TypeObjectID, Value: oid[:]}
}

// upsertedID converts the driver's upserted _id, if any.
func upsertedID(id any) (*bson.RawValue, error) {
	if id == nil {
		return nil, nil
	}
	v, err := rawValue(id)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// InsertOneOptions are the options of InsertOne.
type InsertOneOptions struct {
	BypassDocumentValidation bool
	Comment                  string
}

// InsertOne inserts one document, adding an ObjectId _id if it has none.
type InsertOne struct {
	Namespace Namespace
	Document  *Document // required
	Options   InsertOneOptions
}

func (op InsertOne) prepare() (bson.Raw, bson.RawValue, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, bson.RawValue{}, err
	}
	doc, err := requiredArg("document", op.Document)
	if err != nil {
		return nil, bson.RawValue{}, err
	}
	doc, id := ensureID(doc)
	return doc, id, nil
}

// Validate implements Op.
func (op InsertOne) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op InsertOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the insert.
func (op InsertOne) Do(ctx context.Context, t Target) (*InsertOneResult, error) {
	doc, id, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.InsertOne()
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	res, err := coll.InsertOne(ctx, doc, o)
	if err != nil {
		return nil, opError("insertOne", op.Namespace, err)
	}
	return &InsertOneResult{InsertedID: id, Acknowledged: res.Acknowledged}, nil
}

// InsertManyOptions are the options of InsertMany.
type InsertManyOptions struct {
	// Ordered inserts in order and stops at the first error; nil means
	// true.
	Ordered                  *bool
	BypassDocumentValidation bool
	Comment                  string
}

// InsertMany inserts documents, adding an ObjectId _id to each that has
// none.
type InsertMany struct {
	Namespace Namespace
	Documents []Document // at least one
	Options   InsertManyOptions
}

func (op InsertMany) prepare() ([]bson.Raw, []bson.RawValue, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	if len(op.Documents) == 0 {
		return nil, nil, &ArgError{Field: "documents", Reason: "at least one document is required"}
	}
	docs, err := listArg("documents", op.Documents)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]bson.RawValue, len(docs))
	for i := range docs {
		docs[i], ids[i] = ensureID(docs[i])
	}
	return docs, ids, nil
}

// Validate implements Op.
func (op InsertMany) Validate() error { _, _, err := op.prepare(); return err }

// Run implements Op.
func (op InsertMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the insert.
func (op InsertMany) Do(ctx context.Context, t Target) (*InsertManyResult, error) {
	docs, ids, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.InsertMany()
	if op.Options.Ordered != nil {
		o.SetOrdered(*op.Options.Ordered)
	}
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	res, err := coll.InsertMany(ctx, docs, o)
	if err != nil {
		return nil, opError("insertMany", op.Namespace, err)
	}
	return &InsertManyResult{InsertedIDs: ids, Acknowledged: res.Acknowledged}, nil
}

// UpdateOptions are the options of UpdateOne and UpdateMany.
type UpdateOptions struct {
	Upsert bool
	// ArrayFilters choose which array elements "$[name]" updates.
	ArrayFilters []Document
	// Hint is the index to use by key pattern; HintName by name. At most
	// one is set.
	Hint                     *Document
	HintName                 string
	Let                      *Document
	Comment                  string
	Collation                *Document
	BypassDocumentValidation bool
}

// updateArgs are an update's decoded arguments.
type updateArgs struct {
	filter       bson.Raw
	update       any
	arrayFilters []any
	hint         any
	let          bson.Raw
	collation    *options.Collation
}

func prepareUpdate(ns Namespace, filter *Document, u Update, o UpdateOptions) (a updateArgs, err error) {
	if err = ns.Validate(); err != nil {
		return a, err
	}
	if a.filter, err = filterArg(filter, true); err != nil {
		return a, err
	}
	if a.update, err = u.arg(""); err != nil {
		return a, err
	}
	if a.arrayFilters, err = arrayFiltersArg("options.array_filters", o.ArrayFilters); err != nil {
		return a, err
	}
	if a.hint, err = hintArg("options.", o.Hint, o.HintName); err != nil {
		return a, err
	}
	if a.let, err = decodeArg("options.let", o.Let); err != nil {
		return a, err
	}
	a.collation, err = collationArg("options.collation", o.Collation)
	return a, err
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

// UpdateOne applies an update to the first document that matches a filter.
type UpdateOne struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Update    Update
	Options   UpdateOptions
}

// Validate implements Op.
func (op UpdateOne) Validate() error {
	_, err := prepareUpdate(op.Namespace, op.Filter, op.Update, op.Options)
	return err
}

// Run implements Op.
func (op UpdateOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the update.
func (op UpdateOne) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	a, err := prepareUpdate(op.Namespace, op.Filter, op.Update, op.Options)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.UpdateOne()
	if op.Options.Upsert {
		o.SetUpsert(true)
	}
	if a.arrayFilters != nil {
		o.SetArrayFilters(a.arrayFilters)
	}
	if a.hint != nil {
		o.SetHint(a.hint)
	}
	if a.let != nil {
		o.SetLet(a.let)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	if a.collation != nil {
		o.SetCollation(a.collation)
	}
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	res, err := coll.UpdateOne(ctx, a.filter, a.update, o)
	return updateResult("updateOne", op.Namespace, res, err)
}

// UpdateMany applies an update to every document that matches a filter.
type UpdateMany struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Update    Update
	Options   UpdateOptions
}

// Validate implements Op.
func (op UpdateMany) Validate() error {
	_, err := prepareUpdate(op.Namespace, op.Filter, op.Update, op.Options)
	return err
}

// Run implements Op.
func (op UpdateMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the update.
func (op UpdateMany) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	a, err := prepareUpdate(op.Namespace, op.Filter, op.Update, op.Options)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.UpdateMany()
	if op.Options.Upsert {
		o.SetUpsert(true)
	}
	if a.arrayFilters != nil {
		o.SetArrayFilters(a.arrayFilters)
	}
	if a.hint != nil {
		o.SetHint(a.hint)
	}
	if a.let != nil {
		o.SetLet(a.let)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	if a.collation != nil {
		o.SetCollation(a.collation)
	}
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	res, err := coll.UpdateMany(ctx, a.filter, a.update, o)
	return updateResult("updateMany", op.Namespace, res, err)
}

func updateResult(name string, ns Namespace, res *mongo.UpdateResult, err error) (*UpdateResult, error) {
	if err != nil {
		return nil, opError(name, ns, err)
	}
	id, err := upsertedID(res.UpsertedID)
	if err != nil {
		return nil, err
	}
	return &UpdateResult{
		Matched:      res.MatchedCount,
		Modified:     res.ModifiedCount,
		Upserted:     res.UpsertedCount,
		UpsertedID:   id,
		Acknowledged: res.Acknowledged,
	}, nil
}

// ReplaceOptions are the options of ReplaceOne.
type ReplaceOptions struct {
	Upsert                   bool
	Hint                     *Document
	HintName                 string
	Let                      *Document
	Comment                  string
	Collation                *Document
	BypassDocumentValidation bool
}

// ReplaceOne replaces the first document that matches a filter.
type ReplaceOne struct {
	Namespace   Namespace
	Filter      *Document // required; {} matches every document
	Replacement *Document // required; a whole document, no update operators
	Options     ReplaceOptions
}

type replaceArgs struct {
	filter, replacement, let bson.Raw
	hint                     any
	collation                *options.Collation
}

func (op ReplaceOne) prepare() (a replaceArgs, err error) {
	if err = op.Namespace.Validate(); err != nil {
		return a, err
	}
	if a.filter, err = filterArg(op.Filter, true); err != nil {
		return a, err
	}
	if a.replacement, err = replacementArg("replacement", op.Replacement); err != nil {
		return a, err
	}
	if a.hint, err = hintArg("options.", op.Options.Hint, op.Options.HintName); err != nil {
		return a, err
	}
	if a.let, err = decodeArg("options.let", op.Options.Let); err != nil {
		return a, err
	}
	a.collation, err = collationArg("options.collation", op.Options.Collation)
	return a, err
}

func replacementArg(field string, d *Document) (bson.Raw, error) {
	doc, err := requiredArg(field, d)
	if err != nil {
		return nil, err
	}
	return doc, checkReplacement(field, doc)
}

// Validate implements Op.
func (op ReplaceOne) Validate() error { _, err := op.prepare(); return err }

// Run implements Op.
func (op ReplaceOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the replacement.
func (op ReplaceOne) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	a, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.Replace()
	if op.Options.Upsert {
		o.SetUpsert(true)
	}
	if a.hint != nil {
		o.SetHint(a.hint)
	}
	if a.let != nil {
		o.SetLet(a.let)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	if a.collation != nil {
		o.SetCollation(a.collation)
	}
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	res, err := coll.ReplaceOne(ctx, a.filter, a.replacement, o)
	return updateResult("replaceOne", op.Namespace, res, err)
}

// DeleteOptions are the options of DeleteOne and DeleteMany.
type DeleteOptions struct {
	Hint      *Document
	HintName  string
	Let       *Document
	Comment   string
	Collation *Document
}

type deleteArgs struct {
	filter, let bson.Raw
	hint        any
	collation   *options.Collation
}

func prepareDelete(ns Namespace, filter *Document, o DeleteOptions) (a deleteArgs, err error) {
	if err = ns.Validate(); err != nil {
		return a, err
	}
	if a.filter, err = filterArg(filter, true); err != nil {
		return a, err
	}
	if a.hint, err = hintArg("options.", o.Hint, o.HintName); err != nil {
		return a, err
	}
	if a.let, err = decodeArg("options.let", o.Let); err != nil {
		return a, err
	}
	a.collation, err = collationArg("options.collation", o.Collation)
	return a, err
}

// DeleteOne deletes the first document that matches a filter.
type DeleteOne struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Options   DeleteOptions
}

// Validate implements Op.
func (op DeleteOne) Validate() error {
	_, err := prepareDelete(op.Namespace, op.Filter, op.Options)
	return err
}

// Run implements Op.
func (op DeleteOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the delete.
func (op DeleteOne) Do(ctx context.Context, t Target) (*DeleteResult, error) {
	a, err := prepareDelete(op.Namespace, op.Filter, op.Options)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.DeleteOne()
	if a.hint != nil {
		o.SetHint(a.hint)
	}
	if a.let != nil {
		o.SetLet(a.let)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	if a.collation != nil {
		o.SetCollation(a.collation)
	}
	res, err := coll.DeleteOne(ctx, a.filter, o)
	if err != nil {
		return nil, opError("deleteOne", op.Namespace, err)
	}
	return &DeleteResult{Deleted: res.DeletedCount, Acknowledged: res.Acknowledged}, nil
}

// DeleteMany deletes every document that matches a filter.
type DeleteMany struct {
	Namespace Namespace
	Filter    *Document // required; {} matches (deletes) every document
	Options   DeleteOptions
}

// Validate implements Op.
func (op DeleteMany) Validate() error {
	_, err := prepareDelete(op.Namespace, op.Filter, op.Options)
	return err
}

// Run implements Op.
func (op DeleteMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the delete.
func (op DeleteMany) Do(ctx context.Context, t Target) (*DeleteResult, error) {
	a, err := prepareDelete(op.Namespace, op.Filter, op.Options)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	o := options.DeleteMany()
	if a.hint != nil {
		o.SetHint(a.hint)
	}
	if a.let != nil {
		o.SetLet(a.let)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	if a.collation != nil {
		o.SetCollation(a.collation)
	}
	res, err := coll.DeleteMany(ctx, a.filter, o)
	if err != nil {
		return nil, opError("deleteMany", op.Namespace, err)
	}
	return &DeleteResult{Deleted: res.DeletedCount, Acknowledged: res.Acknowledged}, nil
}

// result turns a typed result into a Result without making a nil pointer
// a non-nil interface.
func result[R Result](r R, err error) (Result, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
