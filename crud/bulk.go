package crud

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// WriteModel is one write of a BulkWrite: *InsertOneModel,
// *UpdateOneModel, *UpdateManyModel, *ReplaceOneModel, *DeleteOneModel or
// *DeleteManyModel (or the same types as values).
type WriteModel interface {
	// model decodes the write for the driver; prefix is its field path,
	// e.g. "models[2].update_one.". For an insert it also returns the
	// document's _id.
	model(prefix string) (mongo.WriteModel, *bson.RawValue, error)
}

// InsertOneModel inserts one document, adding an ObjectId _id if it has
// none.
type InsertOneModel struct {
	Document *Document // required
}

// UpdateOneModel updates the first document that matches a filter.
type UpdateOneModel struct {
	Filter       *Document // required; {} matches every document
	Update       Update
	ArrayFilters []Document
	Upsert       bool
	CommonOptions
}

// UpdateManyModel updates every document that matches a filter.
type UpdateManyModel struct {
	Filter       *Document // required; {} matches every document
	Update       Update
	ArrayFilters []Document
	Upsert       bool
	CommonOptions
}

// ReplaceOneModel replaces the first document that matches a filter.
type ReplaceOneModel struct {
	Filter      *Document // required; {} matches every document
	Replacement *Document // required; a whole document, no update operators
	Upsert      bool
	CommonOptions
}

// DeleteOneModel deletes the first document that matches a filter.
type DeleteOneModel struct {
	Filter *Document // required; {} matches every document
	CommonOptions
}

// DeleteManyModel deletes every document that matches a filter.
type DeleteManyModel struct {
	Filter *Document // required; {} matches every document
	CommonOptions
}

func (m InsertOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	doc, err := requiredArg(prefix+"document", m.Document)
	if err != nil {
		return nil, nil, err
	}
	doc, id := ensureID(doc)
	return mongo.NewInsertOneModel().SetDocument(doc), &id, nil
}

// modelFilter decodes a model's required filter.
func modelFilter(prefix string, d *Document) (bson.Raw, error) {
	if d == nil {
		return nil, &ArgError{Field: prefix + "filter", Reason: "required; {} matches every document"}
	}
	return decodeArg(prefix+"filter", d)
}

func (m UpdateOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, update, err := updateModelArgs(prefix, m.Filter, m.Update)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update)
	return w, nil, applyUpdate(w, prefix, m.ArrayFilters, m.Upsert, m.CommonOptions)
}

func (m UpdateManyModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, update, err := updateModelArgs(prefix, m.Filter, m.Update)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewUpdateManyModel().SetFilter(filter).SetUpdate(update)
	return w, nil, applyUpdate(w, prefix, m.ArrayFilters, m.Upsert, m.CommonOptions)
}

func updateModelArgs(prefix string, filterDoc *Document, u Update) (filter bson.Raw, update any, err error) {
	if filter, err = modelFilter(prefix, filterDoc); err != nil {
		return nil, nil, err
	}
	update, err = u.arg(prefix)
	return filter, update, err
}

func (m ReplaceOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, err := modelFilter(prefix, m.Filter)
	if err != nil {
		return nil, nil, err
	}
	repl, err := replacementArg(prefix+"replacement", m.Replacement)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(repl)
	if m.Upsert {
		w.SetUpsert(true)
	}
	return w, nil, applyCommon(w, prefix, m.CommonOptions, false)
}

func (m DeleteOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, err := modelFilter(prefix, m.Filter)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewDeleteOneModel().SetFilter(filter)
	return w, nil, applyCommon(w, prefix, m.CommonOptions, false)
}

func (m DeleteManyModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, err := modelFilter(prefix, m.Filter)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewDeleteManyModel().SetFilter(filter)
	return w, nil, applyCommon(w, prefix, m.CommonOptions, false)
}

// modelField is the proto oneof field name of each model type.
func modelField(m WriteModel) string {
	switch m.(type) {
	case InsertOneModel, *InsertOneModel:
		return "insert_one"
	case UpdateOneModel, *UpdateOneModel:
		return "update_one"
	case UpdateManyModel, *UpdateManyModel:
		return "update_many"
	case ReplaceOneModel, *ReplaceOneModel:
		return "replace_one"
	case DeleteOneModel, *DeleteOneModel:
		return "delete_one"
	case DeleteManyModel, *DeleteManyModel:
		return "delete_many"
	}
	return "model"
}

// BulkWriteOptions are the options of BulkWrite.
type BulkWriteOptions struct {
	// Ordered runs the models in order and stops at the first error; nil
	// means true.
	Ordered *bool
	CommonOptions
}

// BulkWrite runs several inserts, updates, replaces and deletes on one
// collection.
type BulkWrite struct {
	Namespace Namespace
	Models    []WriteModel // at least one
	Options   BulkWriteOptions
}

func (op BulkWrite) prepare() ([]mongo.WriteModel, []IndexedID, *options.BulkWriteOptionsBuilder, error) {
	if err := op.Namespace.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if len(op.Models) == 0 {
		return nil, nil, nil, &ArgError{Field: "models", Reason: "at least one model is required"}
	}
	models := make([]mongo.WriteModel, len(op.Models))
	var ids []IndexedID
	for i, m := range op.Models {
		if m == nil {
			return nil, nil, nil, &ArgError{Field: prefixed("models", i), Reason: "required: one of insert_one, update_one, update_many, replace_one, delete_one, delete_many"}
		}
		w, id, err := m.model(fmt.Sprintf("models[%d].%s.", i, modelField(m)))
		if err != nil {
			return nil, nil, nil, err
		}
		models[i] = w
		if id != nil {
			ids = append(ids, IndexedID{Index: int64(i), ID: *id})
		}
	}
	o := options.BulkWrite()
	if op.Options.Ordered != nil {
		o.SetOrdered(*op.Options.Ordered)
	}
	return models, ids, o, applyCommon(o, "options.", op.Options.CommonOptions, false)
}

// Validate implements Op.
func (op BulkWrite) Validate() error { _, _, _, err := op.prepare(); return err }

// Run implements Op.
func (op BulkWrite) Run(ctx context.Context, t Target) (Result, error) {
	return result(op.Do(ctx, t))
}

// Do runs the bulk write. On error the result is nil; a
// mongo.BulkWriteException in the error chain tells which writes failed.
func (op BulkWrite) Do(ctx context.Context, t Target) (*BulkWriteResult, error) {
	models, ids, o, err := op.prepare()
	if err != nil {
		return nil, err
	}
	ctx, coll, err := t.open(ctx, op.Namespace)
	if err != nil {
		return nil, err
	}
	res, err := coll.BulkWrite(ctx, models, o)
	if err != nil {
		return nil, opError("bulkWrite", op.Namespace, err)
	}
	out := &BulkWriteResult{
		Inserted:     res.InsertedCount,
		Matched:      res.MatchedCount,
		Modified:     res.ModifiedCount,
		Deleted:      res.DeletedCount,
		Upserted:     res.UpsertedCount,
		InsertedIDs:  ids,
		Acknowledged: res.Acknowledged,
	}
	for i, id := range res.UpsertedIDs {
		v, err := rawValue(id)
		if err != nil {
			return nil, err
		}
		out.UpsertedIDs = append(out.UpsertedIDs, IndexedID{Index: i, ID: v})
	}
	slices.SortFunc(out.UpsertedIDs, func(a, b IndexedID) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}
