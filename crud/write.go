package crud

import (
	"context"
	"encoding/binary"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// knownID is doc's _id, or the zero RawValue (Type 0) when it has none:
// the driver then adds a new ObjectId, as MongoDB drivers do, cheaply; an
// _id added here would make it decode the whole document to find it.
func knownID(doc bson.Raw) bson.RawValue {
	v, _ := doc.LookupErr("_id")
	return v
}

// insertedID is the _id the driver reports for a document whose own
// (known) was none: the ObjectId it added.
func insertedID(known bson.RawValue, reported any) (bson.RawValue, error) {
	if known.Type != 0 {
		return known, nil
	}
	if oid, ok := reported.(bson.ObjectID); ok {
		return bson.RawValue{Type: bson.TypeObjectID, Value: append([]byte(nil), oid[:]...)}, nil
	}
	return rawValue(reported)
}

// ensureID returns doc with an _id, adding a new ObjectId first if it has
// none (as MongoDB drivers do), and the _id: for bulk writes, whose result
// does not say what the driver added.
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
	CommonOptions
}

// InsertOne inserts one document, adding an ObjectId _id if it has none.
type InsertOne struct {
	Namespace Namespace
	Document  *Document // required
	Options   InsertOneOptions
}

func (op InsertOne) prepare() (bson.Raw, bson.RawValue, *options.InsertOneOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, bson.RawValue{}, nil, err
	}
	doc, err := requiredArg("document", op.Document)
	if err != nil {
		return nil, bson.RawValue{}, nil, err
	}
	o := options.InsertOne()
	if err := applyCommon(o, "options.", op.Options.CommonOptions, false); err != nil {
		return nil, bson.RawValue{}, nil, err
	}
	return doc, knownID(doc), o, nil
}

// Validate implements Op.
func (op InsertOne) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op InsertOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the insert.
func (op InsertOne) Do(ctx context.Context, t Target) (*InsertOneResult, error) {
	doc, id, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := coll.InsertOne(ctx, doc, o)
	if err != nil {
		return nil, opError("insertOne", op.Namespace, err)
	}
	if id, err = insertedID(id, res.InsertedID); err != nil {
		return nil, err
	}
	return &InsertOneResult{InsertedID: id, Acknowledged: res.Acknowledged}, nil
}

// InsertManyOptions are the options of InsertMany.
type InsertManyOptions struct {
	// Ordered inserts in order and stops at the first error; nil means
	// true.
	Ordered *bool
	CommonOptions
}

// InsertMany inserts documents, adding an ObjectId _id to each that has
// none.
type InsertMany struct {
	Namespace Namespace
	Documents []Document // at least one
	Options   InsertManyOptions
}

func (op InsertMany) prepare() ([]bson.Raw, []bson.RawValue, *options.InsertManyOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if len(op.Documents) == 0 {
		return nil, nil, nil, &ArgError{Field: "documents", Reason: "at least one document is required"}
	}
	docs, err := listArg("documents", op.Documents)
	if err != nil {
		return nil, nil, nil, err
	}
	o := options.InsertMany()
	if op.Options.Ordered != nil {
		o.SetOrdered(*op.Options.Ordered)
	}
	if err := applyCommon(o, "options.", op.Options.CommonOptions, false); err != nil {
		return nil, nil, nil, err
	}
	ids := make([]bson.RawValue, len(docs))
	for i := range docs {
		ids[i] = knownID(docs[i])
	}
	return docs, ids, o, nil
}

// Validate implements Op.
func (op InsertMany) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op InsertMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the insert.
func (op InsertMany) Do(ctx context.Context, t Target) (*InsertManyResult, error) {
	docs, ids, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := coll.InsertMany(ctx, docs, o)
	if err != nil {
		return nil, opError("insertMany", op.Namespace, err)
	}
	if len(res.InsertedIDs) != len(ids) {
		return nil, fmt.Errorf("crud: insertMany %s: the driver reports %d ids for %d documents", op.Namespace, len(res.InsertedIDs), len(ids))
	}
	for i := range ids {
		if ids[i], err = insertedID(ids[i], res.InsertedIDs[i]); err != nil {
			return nil, err
		}
	}
	return &InsertManyResult{InsertedIDs: ids, Acknowledged: res.Acknowledged}, nil
}

// UpdateOptions are the options of UpdateOne and UpdateMany.
type UpdateOptions struct {
	Upsert bool
	// ArrayFilters choose which array elements "$[name]" updates.
	ArrayFilters []Document
	CommonOptions
}

// UpdateOne applies an update to the first document that matches a filter.
type UpdateOne struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Update    Update
	Options   UpdateOptions
}

// UpdateMany applies an update to every document that matches a filter.
type UpdateMany struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Update    Update
	Options   UpdateOptions
}

// updateOp is UpdateOne and UpdateMany, which convert to it.
type updateOp struct {
	Namespace Namespace
	Filter    *Document
	Update    Update
	Options   UpdateOptions
}

// updateBuilder is the driver's options builder of UpdateOne or UpdateMany.
type updateBuilder[O, B any] interface {
	updateSetter[B]
	options.Lister[O]
}

// prepareUpdate checks and decodes the update, setting its options on o.
func prepareUpdate[B updateSetter[B]](op updateOp, o B) (filter bson.Raw, upd any, err error) {
	if err = op.Namespace.Validate(); err != nil {
		return nil, nil, err
	}
	if filter, err = filterArg(op.Filter, true); err != nil {
		return nil, nil, err
	}
	if upd, err = op.Update.arg(""); err != nil {
		return nil, nil, err
	}
	return filter, upd, applyUpdate(o, "options.", op.Options.ArrayFilters, op.Options.Upsert, op.Options.CommonOptions)
}

// runUpdate runs op with the driver's options builder o and method call.
func runUpdate[O any, B updateBuilder[O, B]](ctx context.Context, t Target, name string, op updateOp, o B,
	call func(*mongo.Collection, context.Context, any, any, ...options.Lister[O]) (*mongo.UpdateResult, error),
) (*UpdateResult, error) {
	filter, upd, err := prepareUpdate(op, o)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := call(coll, ctx, filter, upd, o)
	if err != nil {
		return nil, opError(name, op.Namespace, err)
	}
	return updateResult(res)
}

// Validate implements Op.
func (op UpdateOne) Validate() error {
	_, _, err := prepareUpdate(updateOp(op), options.UpdateOne())
	return err
}

// Run implements Op.
func (op UpdateOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the update.
func (op UpdateOne) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	return runUpdate(ctx, t, "updateOne", updateOp(op), options.UpdateOne(), (*mongo.Collection).UpdateOne)
}

// Validate implements Op.
func (op UpdateMany) Validate() error {
	_, _, err := prepareUpdate(updateOp(op), options.UpdateMany())
	return err
}

// Run implements Op.
func (op UpdateMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the update.
func (op UpdateMany) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	return runUpdate(ctx, t, "updateMany", updateOp(op), options.UpdateMany(), (*mongo.Collection).UpdateMany)
}

func updateResult(res *mongo.UpdateResult) (*UpdateResult, error) {
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
	Upsert bool
	CommonOptions
}

// ReplaceOne replaces the first document that matches a filter.
type ReplaceOne struct {
	Namespace   Namespace
	Filter      *Document // required; {} matches every document
	Replacement *Document // required; a whole document, no update operators
	Options     ReplaceOptions
}

func (op ReplaceOne) prepare() (filter, replacement bson.Raw, o *options.ReplaceOptionsBuilder, err error) {
	if err = op.Namespace.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if filter, err = filterArg(op.Filter, true); err != nil {
		return nil, nil, nil, err
	}
	if replacement, err = replacementArg("replacement", op.Replacement); err != nil {
		return nil, nil, nil, err
	}
	o = options.Replace()
	if op.Options.Upsert {
		o.SetUpsert(true)
	}
	return filter, replacement, o, applyCommon(o, "options.", op.Options.CommonOptions, false)
}

func replacementArg(field string, d *Document) (bson.Raw, error) {
	doc, err := requiredArg(field, d)
	if err != nil {
		return nil, err
	}
	return doc, checkReplacement(field, doc)
}

// Validate implements Op.
func (op ReplaceOne) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op ReplaceOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the replacement.
func (op ReplaceOne) Do(ctx context.Context, t Target) (*UpdateResult, error) {
	filter, replacement, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := coll.ReplaceOne(ctx, filter, replacement, o)
	if err != nil {
		return nil, opError("replaceOne", op.Namespace, err)
	}
	return updateResult(res)
}

// DeleteOptions are the options of DeleteOne and DeleteMany.
type DeleteOptions struct {
	CommonOptions
}

// DeleteOne deletes the first document that matches a filter.
type DeleteOne struct {
	Namespace Namespace
	Filter    *Document // required; {} matches every document
	Options   DeleteOptions
}

// DeleteMany deletes every document that matches a filter.
type DeleteMany struct {
	Namespace Namespace
	Filter    *Document // required; {} matches (deletes) every document
	Options   DeleteOptions
}

// deleteOp is DeleteOne and DeleteMany, which convert to it.
type deleteOp struct {
	Namespace Namespace
	Filter    *Document
	Options   DeleteOptions
}

// prepareDelete checks and decodes the delete, setting its options on o.
func prepareDelete[B any](op deleteOp, o B) (bson.Raw, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, err
	}
	filter, err := filterArg(op.Filter, true)
	if err != nil {
		return nil, err
	}
	return filter, applyCommon(o, "options.", op.Options.CommonOptions, false)
}

// runDelete runs op with the driver's options builder o and method call.
func runDelete[O any, B options.Lister[O]](ctx context.Context, t Target, name string, op deleteOp, o B,
	call func(*mongo.Collection, context.Context, any, ...options.Lister[O]) (*mongo.DeleteResult, error),
) (*DeleteResult, error) {
	filter, err := prepareDelete(op, o)
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := call(coll, ctx, filter, o)
	if err != nil {
		return nil, opError(name, op.Namespace, err)
	}
	return &DeleteResult{Deleted: res.DeletedCount, Acknowledged: res.Acknowledged}, nil
}

// Validate implements Op.
func (op DeleteOne) Validate() error {
	_, err := prepareDelete(deleteOp(op), options.DeleteOne())
	return err
}

// Run implements Op.
func (op DeleteOne) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the delete.
func (op DeleteOne) Do(ctx context.Context, t Target) (*DeleteResult, error) {
	return runDelete(ctx, t, "deleteOne", deleteOp(op), options.DeleteOne(), (*mongo.Collection).DeleteOne)
}

// Validate implements Op.
func (op DeleteMany) Validate() error {
	_, err := prepareDelete(deleteOp(op), options.DeleteMany())
	return err
}

// Run implements Op.
func (op DeleteMany) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the delete.
func (op DeleteMany) Do(ctx context.Context, t Target) (*DeleteResult, error) {
	return runDelete(ctx, t, "deleteMany", deleteOp(op), options.DeleteMany(), (*mongo.Collection).DeleteMany)
}

// result turns a typed result into a Result without making a nil pointer
// a non-nil interface.
func result[R Result](r R, err error) (Result, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
