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
	Collation    *Document
	Hint         *Document
	HintName     string
	Upsert       bool
}

// UpdateManyModel updates every document that matches a filter.
type UpdateManyModel struct {
	Filter       *Document // required; {} matches every document
	Update       Update
	ArrayFilters []Document
	Collation    *Document
	Hint         *Document
	HintName     string
	Upsert       bool
}

// ReplaceOneModel replaces the first document that matches a filter.
type ReplaceOneModel struct {
	Filter      *Document // required; {} matches every document
	Replacement *Document // required; a whole document, no update operators
	Collation   *Document
	Hint        *Document
	HintName    string
	Upsert      bool
}

// DeleteOneModel deletes the first document that matches a filter.
type DeleteOneModel struct {
	Filter    *Document // required; {} matches every document
	Collation *Document
	Hint      *Document
	HintName  string
}

// DeleteManyModel deletes every document that matches a filter.
type DeleteManyModel struct {
	Filter    *Document // required; {} matches every document
	Collation *Document
	Hint      *Document
	HintName  string
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

// modelCommon are the hint and collation every non-insert model has.
type modelCommon struct {
	hint      any
	collation *options.Collation
}

func commonArgs(prefix string, hint *Document, hintName string, collation *Document) (c modelCommon, err error) {
	if c.hint, err = hintArg(prefix, hint, hintName); err != nil {
		return c, err
	}
	c.collation, err = collationArg(prefix+"collation", collation)
	return c, err
}

func (m UpdateOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, update, af, c, err := updateModelArgs(prefix, m.Filter, m.Update, m.ArrayFilters, m.Hint, m.HintName, m.Collation)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewUpdateOneModel().SetFilter(filter).SetUpdate(update)
	if af != nil {
		w.SetArrayFilters(af)
	}
	if c.hint != nil {
		w.SetHint(c.hint)
	}
	if c.collation != nil {
		w.SetCollation(c.collation)
	}
	if m.Upsert {
		w.SetUpsert(true)
	}
	return w, nil, nil
}

func (m UpdateManyModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, update, af, c, err := updateModelArgs(prefix, m.Filter, m.Update, m.ArrayFilters, m.Hint, m.HintName, m.Collation)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewUpdateManyModel().SetFilter(filter).SetUpdate(update)
	if af != nil {
		w.SetArrayFilters(af)
	}
	if c.hint != nil {
		w.SetHint(c.hint)
	}
	if c.collation != nil {
		w.SetCollation(c.collation)
	}
	if m.Upsert {
		w.SetUpsert(true)
	}
	return w, nil, nil
}

func updateModelArgs(prefix string, filterDoc *Document, u Update, arrayFilters []Document,
	hint *Document, hintName string, collation *Document,
) (filter bson.Raw, update any, af []any, c modelCommon, err error) {
	if filter, err = modelFilter(prefix, filterDoc); err != nil {
		return
	}
	if update, err = u.arg(prefix); err != nil {
		return
	}
	if af, err = arrayFiltersArg(prefix+"array_filters", arrayFilters); err != nil {
		return
	}
	c, err = commonArgs(prefix, hint, hintName, collation)
	return
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
	c, err := commonArgs(prefix, m.Hint, m.HintName, m.Collation)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(repl)
	if c.hint != nil {
		w.SetHint(c.hint)
	}
	if c.collation != nil {
		w.SetCollation(c.collation)
	}
	if m.Upsert {
		w.SetUpsert(true)
	}
	return w, nil, nil
}

func (m DeleteOneModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, err := modelFilter(prefix, m.Filter)
	if err != nil {
		return nil, nil, err
	}
	c, err := commonArgs(prefix, m.Hint, m.HintName, m.Collation)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewDeleteOneModel().SetFilter(filter)
	if c.hint != nil {
		w.SetHint(c.hint)
	}
	if c.collation != nil {
		w.SetCollation(c.collation)
	}
	return w, nil, nil
}

func (m DeleteManyModel) model(prefix string) (mongo.WriteModel, *bson.RawValue, error) {
	filter, err := modelFilter(prefix, m.Filter)
	if err != nil {
		return nil, nil, err
	}
	c, err := commonArgs(prefix, m.Hint, m.HintName, m.Collation)
	if err != nil {
		return nil, nil, err
	}
	w := mongo.NewDeleteManyModel().SetFilter(filter)
	if c.hint != nil {
		w.SetHint(c.hint)
	}
	if c.collation != nil {
		w.SetCollation(c.collation)
	}
	return w, nil, nil
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
	Ordered                  *bool
	BypassDocumentValidation bool
	Comment                  string
	Let                      *Document
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
	if op.Options.BypassDocumentValidation {
		o.SetBypassDocumentValidation(true)
	}
	if op.Options.Comment != "" {
		o.SetComment(op.Options.Comment)
	}
	let, err := decodeArg("options.let", op.Options.Let)
	if err != nil {
		return nil, nil, nil, err
	}
	if let != nil {
		o.SetLet(let)
	}
	return models, ids, o, nil
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
