package mongogate

import (
	"context"
	"errors"
	"fmt"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// WriteModel is one write of a BulkWrite: an *InsertOneModel,
// *UpdateOneModel, *UpdateManyModel, *ReplaceOneModel, *DeleteOneModel or
// *DeleteManyModel.
type WriteModel interface {
	writeModel() (*pb.WriteModel, error)
}

// InsertOneModel inserts Document.
type InsertOneModel struct {
	Document any
}

// NewInsertOneModel returns an empty InsertOneModel.
func NewInsertOneModel() *InsertOneModel { return &InsertOneModel{} }

// SetDocument sets Document.
func (m *InsertOneModel) SetDocument(doc any) *InsertOneModel { m.Document = doc; return m }

func (m *InsertOneModel) writeModel() (*pb.WriteModel, error) {
	d, err := requiredDocOf("document", m.Document)
	if err != nil {
		return nil, err
	}
	return &pb.WriteModel{Model: &pb.WriteModel_InsertOne{InsertOne: &pb.InsertOneModel{Document: d}}}, nil
}

// UpdateOneModel applies Update to the first document that matches Filter.
type UpdateOneModel struct {
	Filter       any
	Update       any // update operators, or a pipeline
	ArrayFilters []any
	Collation    *options.Collation
	Hint         any
	Upsert       *bool
}

// NewUpdateOneModel returns an empty UpdateOneModel.
func NewUpdateOneModel() *UpdateOneModel { return &UpdateOneModel{} }

// SetFilter sets Filter.
func (m *UpdateOneModel) SetFilter(f any) *UpdateOneModel { m.Filter = f; return m }

// SetUpdate sets Update.
func (m *UpdateOneModel) SetUpdate(u any) *UpdateOneModel { m.Update = u; return m }

// SetArrayFilters sets ArrayFilters.
func (m *UpdateOneModel) SetArrayFilters(f ...any) *UpdateOneModel { m.ArrayFilters = f; return m }

// SetCollation sets Collation.
func (m *UpdateOneModel) SetCollation(c *options.Collation) *UpdateOneModel {
	m.Collation = c
	return m
}

// SetHint sets Hint.
func (m *UpdateOneModel) SetHint(h any) *UpdateOneModel { m.Hint = h; return m }

// SetUpsert sets Upsert.
func (m *UpdateOneModel) SetUpsert(b bool) *UpdateOneModel { m.Upsert = &b; return m }

func (m *UpdateOneModel) writeModel() (*pb.WriteModel, error) {
	u, err := updateModelOf(m.Filter, m.Update, m.ArrayFilters, m.Collation, m.Hint)
	if err != nil {
		return nil, err
	}
	pm := &pb.UpdateOneModel{Filter: u.filter, ArrayFilters: u.arrayFilters, Collation: u.collation, Upsert: deref(m.Upsert)}
	if u.pipeline != nil {
		pm.UpdateSpec = &pb.UpdateOneModel_UpdatePipeline{UpdatePipeline: u.pipeline}
	} else {
		pm.UpdateSpec = &pb.UpdateOneModel_Update{Update: u.update}
	}
	if u.hint != nil {
		pm.HintSpec = &pb.UpdateOneModel_Hint{Hint: u.hint}
	} else if u.hintName != "" {
		pm.HintSpec = &pb.UpdateOneModel_HintName{HintName: u.hintName}
	}
	return &pb.WriteModel{Model: &pb.WriteModel_UpdateOne{UpdateOne: pm}}, nil
}

// UpdateManyModel applies Update to every document that matches Filter.
type UpdateManyModel struct {
	Filter       any
	Update       any // update operators, or a pipeline
	ArrayFilters []any
	Collation    *options.Collation
	Hint         any
	Upsert       *bool
}

// NewUpdateManyModel returns an empty UpdateManyModel.
func NewUpdateManyModel() *UpdateManyModel { return &UpdateManyModel{} }

// SetFilter sets Filter.
func (m *UpdateManyModel) SetFilter(f any) *UpdateManyModel { m.Filter = f; return m }

// SetUpdate sets Update.
func (m *UpdateManyModel) SetUpdate(u any) *UpdateManyModel { m.Update = u; return m }

// SetArrayFilters sets ArrayFilters.
func (m *UpdateManyModel) SetArrayFilters(f ...any) *UpdateManyModel { m.ArrayFilters = f; return m }

// SetCollation sets Collation.
func (m *UpdateManyModel) SetCollation(c *options.Collation) *UpdateManyModel {
	m.Collation = c
	return m
}

// SetHint sets Hint.
func (m *UpdateManyModel) SetHint(h any) *UpdateManyModel { m.Hint = h; return m }

// SetUpsert sets Upsert.
func (m *UpdateManyModel) SetUpsert(b bool) *UpdateManyModel { m.Upsert = &b; return m }

func (m *UpdateManyModel) writeModel() (*pb.WriteModel, error) {
	u, err := updateModelOf(m.Filter, m.Update, m.ArrayFilters, m.Collation, m.Hint)
	if err != nil {
		return nil, err
	}
	pm := &pb.UpdateManyModel{Filter: u.filter, ArrayFilters: u.arrayFilters, Collation: u.collation, Upsert: deref(m.Upsert)}
	if u.pipeline != nil {
		pm.UpdateSpec = &pb.UpdateManyModel_UpdatePipeline{UpdatePipeline: u.pipeline}
	} else {
		pm.UpdateSpec = &pb.UpdateManyModel_Update{Update: u.update}
	}
	if u.hint != nil {
		pm.HintSpec = &pb.UpdateManyModel_Hint{Hint: u.hint}
	} else if u.hintName != "" {
		pm.HintSpec = &pb.UpdateManyModel_HintName{HintName: u.hintName}
	}
	return &pb.WriteModel{Model: &pb.WriteModel_UpdateMany{UpdateMany: pm}}, nil
}

// updateModel is what the update models share, encoded.
type updateModel struct {
	filter, update, collation, hint *pb.Document
	pipeline                        *pb.Pipeline
	arrayFilters                    []*pb.Document
	hintName                        string
}

func updateModelOf(filter, update any, arrayFilters []any, collation *options.Collation, hint any) (*updateModel, error) {
	var (
		u   updateModel
		err error
	)
	if u.filter, err = requiredDocOf("filter", filter); err != nil {
		return nil, err
	}
	if u.update, u.pipeline, err = updateOf(update); err != nil {
		return nil, err
	}
	if u.arrayFilters, err = docsOf("array filters", arrayFilters); err != nil {
		return nil, err
	}
	if u.collation, err = collationOf(collation); err != nil {
		return nil, err
	}
	if u.hint, u.hintName, err = hintOf(hint); err != nil {
		return nil, err
	}
	return &u, nil
}

// ReplaceOneModel replaces the first document that matches Filter with
// Replacement.
type ReplaceOneModel struct {
	Filter      any
	Replacement any
	Collation   *options.Collation
	Hint        any
	Upsert      *bool
}

// NewReplaceOneModel returns an empty ReplaceOneModel.
func NewReplaceOneModel() *ReplaceOneModel { return &ReplaceOneModel{} }

// SetFilter sets Filter.
func (m *ReplaceOneModel) SetFilter(f any) *ReplaceOneModel { m.Filter = f; return m }

// SetReplacement sets Replacement.
func (m *ReplaceOneModel) SetReplacement(r any) *ReplaceOneModel { m.Replacement = r; return m }

// SetCollation sets Collation.
func (m *ReplaceOneModel) SetCollation(c *options.Collation) *ReplaceOneModel {
	m.Collation = c
	return m
}

// SetHint sets Hint.
func (m *ReplaceOneModel) SetHint(h any) *ReplaceOneModel { m.Hint = h; return m }

// SetUpsert sets Upsert.
func (m *ReplaceOneModel) SetUpsert(b bool) *ReplaceOneModel { m.Upsert = &b; return m }

func (m *ReplaceOneModel) writeModel() (*pb.WriteModel, error) {
	pm := &pb.ReplaceOneModel{Upsert: deref(m.Upsert)}
	var err error
	if pm.Filter, err = requiredDocOf("filter", m.Filter); err != nil {
		return nil, err
	}
	if pm.Replacement, err = requiredDocOf("replacement", m.Replacement); err != nil {
		return nil, err
	}
	if pm.Collation, err = collationOf(m.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(m.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		pm.HintSpec = &pb.ReplaceOneModel_Hint{Hint: hint}
	case name != "":
		pm.HintSpec = &pb.ReplaceOneModel_HintName{HintName: name}
	}
	return &pb.WriteModel{Model: &pb.WriteModel_ReplaceOne{ReplaceOne: pm}}, nil
}

// DeleteOneModel deletes the first document that matches Filter.
type DeleteOneModel struct {
	Filter    any
	Collation *options.Collation
	Hint      any
}

// NewDeleteOneModel returns an empty DeleteOneModel.
func NewDeleteOneModel() *DeleteOneModel { return &DeleteOneModel{} }

// SetFilter sets Filter.
func (m *DeleteOneModel) SetFilter(f any) *DeleteOneModel { m.Filter = f; return m }

// SetCollation sets Collation.
func (m *DeleteOneModel) SetCollation(c *options.Collation) *DeleteOneModel {
	m.Collation = c
	return m
}

// SetHint sets Hint.
func (m *DeleteOneModel) SetHint(h any) *DeleteOneModel { m.Hint = h; return m }

func (m *DeleteOneModel) writeModel() (*pb.WriteModel, error) {
	pm := &pb.DeleteOneModel{}
	var err error
	if pm.Filter, err = requiredDocOf("filter", m.Filter); err != nil {
		return nil, err
	}
	if pm.Collation, err = collationOf(m.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(m.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		pm.HintSpec = &pb.DeleteOneModel_Hint{Hint: hint}
	case name != "":
		pm.HintSpec = &pb.DeleteOneModel_HintName{HintName: name}
	}
	return &pb.WriteModel{Model: &pb.WriteModel_DeleteOne{DeleteOne: pm}}, nil
}

// DeleteManyModel deletes every document that matches Filter.
type DeleteManyModel struct {
	Filter    any
	Collation *options.Collation
	Hint      any
}

// NewDeleteManyModel returns an empty DeleteManyModel.
func NewDeleteManyModel() *DeleteManyModel { return &DeleteManyModel{} }

// SetFilter sets Filter.
func (m *DeleteManyModel) SetFilter(f any) *DeleteManyModel { m.Filter = f; return m }

// SetCollation sets Collation.
func (m *DeleteManyModel) SetCollation(c *options.Collation) *DeleteManyModel {
	m.Collation = c
	return m
}

// SetHint sets Hint.
func (m *DeleteManyModel) SetHint(h any) *DeleteManyModel { m.Hint = h; return m }

func (m *DeleteManyModel) writeModel() (*pb.WriteModel, error) {
	pm := &pb.DeleteManyModel{}
	var err error
	if pm.Filter, err = requiredDocOf("filter", m.Filter); err != nil {
		return nil, err
	}
	if pm.Collation, err = collationOf(m.Collation); err != nil {
		return nil, err
	}
	hint, name, err := hintOf(m.Hint)
	switch {
	case err != nil:
		return nil, err
	case hint != nil:
		pm.HintSpec = &pb.DeleteManyModel_Hint{Hint: hint}
	case name != "":
		pm.HintSpec = &pb.DeleteManyModel_HintName{HintName: name}
	}
	return &pb.WriteModel{Model: &pb.WriteModel_DeleteMany{DeleteMany: pm}}, nil
}

// BulkWriteResult is the result of BulkWrite.
type BulkWriteResult struct {
	InsertedCount int64
	MatchedCount  int64
	ModifiedCount int64
	DeletedCount  int64
	UpsertedCount int64
	// InsertedIDs and UpsertedIDs map a model's index in the models slice
	// to the _id of the document it inserted.
	InsertedIDs  map[int64]any
	UpsertedIDs  map[int64]any
	Acknowledged bool
}

// BulkWrite runs the models' inserts, updates, replaces and deletes on the
// collection in one command.
func (c *Collection) BulkWrite(ctx context.Context, models []WriteModel, opts ...*options.BulkWriteOptions) (*BulkWriteResult, error) {
	if len(models) == 0 {
		return nil, errors.New("mongogate: BulkWrite needs at least one model")
	}
	pms := make([]*pb.WriteModel, len(models))
	for i, m := range models {
		if m == nil {
			return nil, fmt.Errorf("mongogate: models[%d] is nil", i)
		}
		pm, err := m.writeModel()
		if err != nil {
			return nil, fmt.Errorf("%w (models[%d])", err, i)
		}
		pms[i] = pm
	}
	o := merge(opts)
	po := &pb.BulkWriteOptions{
		Ordered: o.Ordered, BypassDocumentValidation: deref(o.BypassDocumentValidation), Comment: deref(o.Comment),
	}
	var err error
	if po.Let, err = docOf("let", o.Let); err != nil {
		return nil, err
	}
	k, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer k.cancel()
	resp, err := k.docs.BulkWrite(k.ctx, &pb.BulkWriteRequest{
		SessionToken: k.token, Client: c.db.backend, Namespace: c.ns(), Models: pms, Options: po,
		WriteConcern: k.wc, ResponseFormat: responseFormat,
	})
	if err != nil {
		return nil, fromStatus(err)
	}
	out := &BulkWriteResult{
		InsertedCount: resp.GetInsertedCount(), MatchedCount: resp.GetMatchedCount(),
		ModifiedCount: resp.GetModifiedCount(), DeletedCount: resp.GetDeletedCount(),
		UpsertedCount: resp.GetUpsertedCount(), Acknowledged: resp.GetAcknowledged(),
	}
	if out.InsertedIDs, err = indexedIDsOf(resp.GetInsertedIds()); err != nil {
		return nil, err
	}
	if out.UpsertedIDs, err = indexedIDsOf(resp.GetUpsertedIds()); err != nil {
		return nil, err
	}
	return out, nil
}
