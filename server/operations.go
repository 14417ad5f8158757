package server

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// Conversions between the DocumentService messages and crud's operations
// and results. A DocumentService request and the RunTransaction operation
// of the same name share field names and getters, so each converter takes
// either through a small interface: the two RPCs cannot drift apart.
//
// Converters check only what crud cannot (namespace, durations, enums);
// crud's Validate decodes and checks the documents. Field paths in errors
// are relative to the request or operation, as crud's are.

// updateSpec is the update_spec oneof of update requests and operations.
type updateSpec interface {
	GetUpdate() *pb.Document
	GetUpdatePipeline() *pb.Pipeline
}

func updateFromProto(m updateSpec) crud.Update {
	u := crud.Update{Document: documentFromProto(m.GetUpdate())}
	if p := m.GetUpdatePipeline(); p != nil {
		u.Pipeline = documentsFromProto(p.GetStages())
	}
	return u
}

func returnDocumentFromProto(rd pb.ReturnDocument) (crud.ReturnDocument, error) {
	switch rd {
	case pb.ReturnDocument_RETURN_DOCUMENT_UNSPECIFIED, pb.ReturnDocument_RETURN_DOCUMENT_BEFORE:
		return crud.ReturnBefore, nil
	case pb.ReturnDocument_RETURN_DOCUMENT_AFTER:
		return crud.ReturnAfter, nil
	}
	return 0, errInvalidArgument("options.return_document", fmt.Sprintf("unknown value %d", int32(rd)))
}

// optionalBool copies an optional proto bool.
func optionalBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

// commonOptionsFromProto converts crud.CommonOptions from m, an
// operation's options or a bulk write model, which may be nil. Every
// message that has one of these options names it alike, so each is
// taken from whichever messages have its getter; those m lacks stay
// unset.
func commonOptionsFromProto(m proto.Message) (crud.CommonOptions, error) {
	var c crud.CommonOptions
	if o, ok := m.(interface{ GetMaxTime() *durationpb.Duration }); ok {
		d, err := durationFromProto("options.max_time", o.GetMaxTime())
		if err != nil {
			return crud.CommonOptions{}, err
		}
		c.MaxTime = d
	}
	if o, ok := m.(interface{ GetProjection() *pb.Document }); ok {
		c.Projection = documentFromProto(o.GetProjection())
	}
	if o, ok := m.(interface{ GetSort() *pb.Document }); ok {
		c.Sort = documentFromProto(o.GetSort())
	}
	if o, ok := m.(interface {
		GetHint() *pb.Document
		GetHintName() string
	}); ok {
		c.Hint, c.HintName = documentFromProto(o.GetHint()), o.GetHintName()
	}
	if o, ok := m.(interface{ GetLet() *pb.Document }); ok {
		c.Let = documentFromProto(o.GetLet())
	}
	if o, ok := m.(interface{ GetCollation() *pb.Document }); ok {
		c.Collation = documentFromProto(o.GetCollation())
	}
	if o, ok := m.(interface{ GetComment() string }); ok {
		c.Comment = o.GetComment()
	}
	if o, ok := m.(interface{ GetBypassDocumentValidation() bool }); ok {
		c.BypassDocumentValidation = o.GetBypassDocumentValidation()
	}
	return c, nil
}

// argsFromProto converts what every operation has: a namespace, and
// options with a common part.
func argsFromProto(ns *pb.Namespace, o proto.Message) (crud.Namespace, crud.CommonOptions, error) {
	n, err := namespaceFromProto(ns)
	if err != nil {
		return crud.Namespace{}, crud.CommonOptions{}, err
	}
	c, err := commonOptionsFromProto(o)
	if err != nil {
		return crud.Namespace{}, crud.CommonOptions{}, err
	}
	return n, c, nil
}

type insertOneMsg interface {
	GetNamespace() *pb.Namespace
	GetDocument() *pb.Document
	GetOptions() *pb.InsertOneOptions
}

func insertOneFromProto(m insertOneMsg) (crud.InsertOne, error) {
	ns, c, err := argsFromProto(m.GetNamespace(), m.GetOptions())
	if err != nil {
		return crud.InsertOne{}, err
	}
	return crud.InsertOne{
		Namespace: ns,
		Document:  documentFromProto(m.GetDocument()),
		Options:   crud.InsertOneOptions{CommonOptions: c},
	}, nil
}

type insertManyMsg interface {
	GetNamespace() *pb.Namespace
	GetDocuments() []*pb.Document
	GetOptions() *pb.InsertManyOptions
}

func insertManyFromProto(m insertManyMsg) (crud.InsertMany, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.InsertMany{}, err
	}
	op := crud.InsertMany{Namespace: ns, Documents: documentsFromProto(m.GetDocuments()),
		Options: crud.InsertManyOptions{CommonOptions: c}}
	if o != nil {
		op.Options.Ordered = optionalBool(o.Ordered)
	}
	return op, nil
}

type findOneMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.FindOneOptions
}

func findOneFromProto(m findOneMsg) (crud.FindOne, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.FindOne{}, err
	}
	return crud.FindOne{
		Namespace: ns,
		Filter:    documentFromProto(m.GetFilter()),
		Options:   crud.FindOneOptions{Skip: o.GetSkip(), CommonOptions: c},
	}, nil
}

// findFromProto converts a Find request (Find has no RunTransaction
// operation: it streams).
func findFromProto(req *pb.FindRequest) (crud.Find, error) {
	o := req.GetOptions()
	ns, c, err := argsFromProto(req.GetNamespace(), o)
	if err != nil {
		return crud.Find{}, err
	}
	op := crud.Find{
		Namespace: ns,
		Filter:    documentFromProto(req.GetFilter()),
		Options: crud.FindOptions{
			Skip:          o.GetSkip(),
			Limit:         o.GetLimit(),
			BatchSize:     o.GetBatchSize(),
			CommonOptions: c,
		},
	}
	if o != nil {
		op.Options.AllowDiskUse = optionalBool(o.AllowDiskUse)
	}
	return op, nil
}

type updateMsg interface {
	updateSpec
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.UpdateOptions
}

// updateArgsFromProto converts what UpdateOne and UpdateMany share.
func updateArgsFromProto(m updateMsg) (crud.Namespace, crud.UpdateOptions, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.Namespace{}, crud.UpdateOptions{}, err
	}
	return ns, crud.UpdateOptions{
		Upsert:        o.GetUpsert(),
		ArrayFilters:  documentsFromProto(o.GetArrayFilters()),
		CommonOptions: c,
	}, nil
}

func updateOneFromProto(m updateMsg) (crud.UpdateOne, error) {
	ns, o, err := updateArgsFromProto(m)
	if err != nil {
		return crud.UpdateOne{}, err
	}
	return crud.UpdateOne{Namespace: ns, Filter: documentFromProto(m.GetFilter()), Update: updateFromProto(m), Options: o}, nil
}

func updateManyFromProto(m updateMsg) (crud.UpdateMany, error) {
	ns, o, err := updateArgsFromProto(m)
	if err != nil {
		return crud.UpdateMany{}, err
	}
	return crud.UpdateMany{Namespace: ns, Filter: documentFromProto(m.GetFilter()), Update: updateFromProto(m), Options: o}, nil
}

type replaceOneMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetReplacement() *pb.Document
	GetOptions() *pb.ReplaceOptions
}

func replaceOneFromProto(m replaceOneMsg) (crud.ReplaceOne, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.ReplaceOne{}, err
	}
	return crud.ReplaceOne{
		Namespace:   ns,
		Filter:      documentFromProto(m.GetFilter()),
		Replacement: documentFromProto(m.GetReplacement()),
		Options:     crud.ReplaceOptions{Upsert: o.GetUpsert(), CommonOptions: c},
	}, nil
}

type deleteMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.DeleteOptions
}

func deleteOneFromProto(m deleteMsg) (crud.DeleteOne, error) {
	ns, c, err := argsFromProto(m.GetNamespace(), m.GetOptions())
	if err != nil {
		return crud.DeleteOne{}, err
	}
	return crud.DeleteOne{Namespace: ns, Filter: documentFromProto(m.GetFilter()), Options: crud.DeleteOptions{CommonOptions: c}}, nil
}

func deleteManyFromProto(m deleteMsg) (crud.DeleteMany, error) {
	ns, c, err := argsFromProto(m.GetNamespace(), m.GetOptions())
	if err != nil {
		return crud.DeleteMany{}, err
	}
	return crud.DeleteMany{Namespace: ns, Filter: documentFromProto(m.GetFilter()), Options: crud.DeleteOptions{CommonOptions: c}}, nil
}

type findOneAndUpdateMsg interface {
	updateSpec
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.FindOneAndUpdateOptions
}

func findOneAndUpdateFromProto(m findOneAndUpdateMsg) (crud.FindOneAndUpdate, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.FindOneAndUpdate{}, err
	}
	rd, err := returnDocumentFromProto(o.GetReturnDocument())
	if err != nil {
		return crud.FindOneAndUpdate{}, err
	}
	return crud.FindOneAndUpdate{
		Namespace: ns,
		Filter:    documentFromProto(m.GetFilter()),
		Update:    updateFromProto(m),
		Options: crud.FindOneAndUpdateOptions{
			ReturnDocument: rd,
			Upsert:         o.GetUpsert(),
			ArrayFilters:   documentsFromProto(o.GetArrayFilters()),
			CommonOptions:  c,
		},
	}, nil
}

type findOneAndReplaceMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetReplacement() *pb.Document
	GetOptions() *pb.FindOneAndReplaceOptions
}

func findOneAndReplaceFromProto(m findOneAndReplaceMsg) (crud.FindOneAndReplace, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.FindOneAndReplace{}, err
	}
	rd, err := returnDocumentFromProto(o.GetReturnDocument())
	if err != nil {
		return crud.FindOneAndReplace{}, err
	}
	return crud.FindOneAndReplace{
		Namespace:   ns,
		Filter:      documentFromProto(m.GetFilter()),
		Replacement: documentFromProto(m.GetReplacement()),
		Options:     crud.FindOneAndReplaceOptions{ReturnDocument: rd, Upsert: o.GetUpsert(), CommonOptions: c},
	}, nil
}

type findOneAndDeleteMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.FindOneAndDeleteOptions
}

func findOneAndDeleteFromProto(m findOneAndDeleteMsg) (crud.FindOneAndDelete, error) {
	ns, c, err := argsFromProto(m.GetNamespace(), m.GetOptions())
	if err != nil {
		return crud.FindOneAndDelete{}, err
	}
	return crud.FindOneAndDelete{
		Namespace: ns,
		Filter:    documentFromProto(m.GetFilter()),
		Options:   crud.FindOneAndDeleteOptions{CommonOptions: c},
	}, nil
}

type countDocumentsMsg interface {
	GetNamespace() *pb.Namespace
	GetFilter() *pb.Document
	GetOptions() *pb.CountDocumentsOptions
}

func countDocumentsFromProto(m countDocumentsMsg) (crud.CountDocuments, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.CountDocuments{}, err
	}
	return crud.CountDocuments{
		Namespace: ns,
		Filter:    documentFromProto(m.GetFilter()),
		Options:   crud.CountOptions{Skip: o.GetSkip(), Limit: o.GetLimit(), CommonOptions: c},
	}, nil
}

type distinctMsg interface {
	GetNamespace() *pb.Namespace
	GetFieldName() string
	GetFilter() *pb.Document
	GetOptions() *pb.DistinctOptions
}

func distinctFromProto(m distinctMsg) (crud.Distinct, error) {
	ns, c, err := argsFromProto(m.GetNamespace(), m.GetOptions())
	if err != nil {
		return crud.Distinct{}, err
	}
	return crud.Distinct{
		Namespace: ns,
		FieldName: m.GetFieldName(),
		Filter:    documentFromProto(m.GetFilter()),
		Options:   crud.DistinctOptions{CommonOptions: c},
	}, nil
}

// aggregateFromProto converts an Aggregate request (Aggregate has no
// RunTransaction operation: it streams).
func aggregateFromProto(req *pb.AggregateRequest) (crud.Aggregate, error) {
	o := req.GetOptions()
	ns, c, err := argsFromProto(req.GetNamespace(), o)
	if err != nil {
		return crud.Aggregate{}, err
	}
	op := crud.Aggregate{
		Namespace: ns,
		Pipeline:  documentsFromProto(req.GetPipeline()),
		Options:   crud.AggregateOptions{BatchSize: o.GetBatchSize(), CommonOptions: c},
	}
	if o != nil {
		op.Options.AllowDiskUse = optionalBool(o.AllowDiskUse)
	}
	return op, nil
}

type bulkWriteMsg interface {
	GetNamespace() *pb.Namespace
	GetModels() []*pb.WriteModel
	GetOptions() *pb.BulkWriteOptions
}

func bulkWriteFromProto(m bulkWriteMsg) (crud.BulkWrite, error) {
	o := m.GetOptions()
	ns, c, err := argsFromProto(m.GetNamespace(), o)
	if err != nil {
		return crud.BulkWrite{}, err
	}
	op := crud.BulkWrite{Namespace: ns, Models: make([]crud.WriteModel, len(m.GetModels())),
		Options: crud.BulkWriteOptions{CommonOptions: c}}
	for i, wm := range m.GetModels() {
		if op.Models[i], err = writeModelFromProto(wm); err != nil {
			return crud.BulkWrite{}, err
		}
	}
	if o != nil {
		op.Options.Ordered = optionalBool(o.Ordered)
	}
	return op, nil
}

// writeModelFromProto converts one bulk write model; a model with no
// write set is nil, which crud reports as models[i].
func writeModelFromProto(wm *pb.WriteModel) (crud.WriteModel, error) {
	switch m := wm.GetModel().(type) {
	case *pb.WriteModel_InsertOne:
		return crud.InsertOneModel{Document: documentFromProto(m.InsertOne.GetDocument())}, nil
	case *pb.WriteModel_UpdateOne:
		u := m.UpdateOne
		c, err := commonOptionsFromProto(u)
		return crud.UpdateOneModel{
			Filter: documentFromProto(u.GetFilter()), Update: updateFromProto(u),
			ArrayFilters: documentsFromProto(u.GetArrayFilters()), Upsert: u.GetUpsert(), CommonOptions: c,
		}, err
	case *pb.WriteModel_UpdateMany:
		u := m.UpdateMany
		c, err := commonOptionsFromProto(u)
		return crud.UpdateManyModel{
			Filter: documentFromProto(u.GetFilter()), Update: updateFromProto(u),
			ArrayFilters: documentsFromProto(u.GetArrayFilters()), Upsert: u.GetUpsert(), CommonOptions: c,
		}, err
	case *pb.WriteModel_ReplaceOne:
		r := m.ReplaceOne
		c, err := commonOptionsFromProto(r)
		return crud.ReplaceOneModel{
			Filter: documentFromProto(r.GetFilter()), Replacement: documentFromProto(r.GetReplacement()),
			Upsert: r.GetUpsert(), CommonOptions: c,
		}, err
	case *pb.WriteModel_DeleteOne:
		d := m.DeleteOne
		c, err := commonOptionsFromProto(d)
		return crud.DeleteOneModel{Filter: documentFromProto(d.GetFilter()), CommonOptions: c}, err
	case *pb.WriteModel_DeleteMany:
		d := m.DeleteMany
		c, err := commonOptionsFromProto(d)
		return crud.DeleteManyModel{Filter: documentFromProto(d.GetFilter()), CommonOptions: c}, err
	}
	return nil, nil
}

// Results to responses, in the request's response format.

func valueResponse(v bson.RawValue, f crud.Format) (*pb.Value, error) {
	d, err := crud.EncodeValue(v, f)
	if err != nil {
		return nil, err
	}
	return valueToProto(d), nil
}

// optionalValueResponse is unset for no value.
func optionalValueResponse(v *bson.RawValue, f crud.Format) (*pb.Value, error) {
	if v == nil {
		return nil, nil
	}
	return valueResponse(*v, f)
}

// documentResponse is unset when nothing was found.
func documentResponse(r *crud.DocumentResult, f crud.Format) (*pb.Document, error) {
	if !r.Found() {
		return nil, nil
	}
	d, err := crud.Encode(r.Document, f)
	if err != nil {
		return nil, err
	}
	return documentToProto(d), nil
}

func documentsResponse(docs []bson.Raw, f crud.Format) ([]*pb.Document, error) {
	out := make([]*pb.Document, len(docs))
	for i, doc := range docs {
		d, err := crud.Encode(doc, f)
		if err != nil {
			return nil, err
		}
		out[i] = documentToProto(d)
	}
	return out, nil
}

func insertOneResponse(r *crud.InsertOneResult, f crud.Format) (*pb.InsertOneResponse, error) {
	id, err := valueResponse(r.InsertedID, f)
	if err != nil {
		return nil, err
	}
	return &pb.InsertOneResponse{InsertedId: id, Acknowledged: r.Acknowledged}, nil
}

func insertManyResponse(r *crud.InsertManyResult, f crud.Format) (*pb.InsertManyResponse, error) {
	ids := make([]*pb.Value, len(r.InsertedIDs))
	for i, id := range r.InsertedIDs {
		v, err := valueResponse(id, f)
		if err != nil {
			return nil, err
		}
		ids[i] = v
	}
	return &pb.InsertManyResponse{InsertedIds: ids, Acknowledged: r.Acknowledged}, nil
}

func updateOneResponse(r *crud.UpdateResult, f crud.Format) (*pb.UpdateOneResponse, error) {
	id, err := optionalValueResponse(r.UpsertedID, f)
	if err != nil {
		return nil, err
	}
	return &pb.UpdateOneResponse{MatchedCount: r.Matched, ModifiedCount: r.Modified,
		UpsertedCount: r.Upserted, UpsertedId: id, Acknowledged: r.Acknowledged}, nil
}

func updateManyResponse(r *crud.UpdateResult, f crud.Format) (*pb.UpdateManyResponse, error) {
	id, err := optionalValueResponse(r.UpsertedID, f)
	if err != nil {
		return nil, err
	}
	return &pb.UpdateManyResponse{MatchedCount: r.Matched, ModifiedCount: r.Modified,
		UpsertedCount: r.Upserted, UpsertedId: id, Acknowledged: r.Acknowledged}, nil
}

func replaceOneResponse(r *crud.UpdateResult, f crud.Format) (*pb.ReplaceOneResponse, error) {
	id, err := optionalValueResponse(r.UpsertedID, f)
	if err != nil {
		return nil, err
	}
	return &pb.ReplaceOneResponse{MatchedCount: r.Matched, ModifiedCount: r.Modified,
		UpsertedCount: r.Upserted, UpsertedId: id, Acknowledged: r.Acknowledged}, nil
}

func deleteOneResponse(r *crud.DeleteResult, _ crud.Format) (*pb.DeleteOneResponse, error) {
	return &pb.DeleteOneResponse{DeletedCount: r.Deleted, Acknowledged: r.Acknowledged}, nil
}

func deleteManyResponse(r *crud.DeleteResult, _ crud.Format) (*pb.DeleteManyResponse, error) {
	return &pb.DeleteManyResponse{DeletedCount: r.Deleted, Acknowledged: r.Acknowledged}, nil
}

func findOneResponse(r *crud.DocumentResult, f crud.Format) (*pb.FindOneResponse, error) {
	d, err := documentResponse(r, f)
	if err != nil {
		return nil, err
	}
	return &pb.FindOneResponse{Document: d}, nil
}

func findOneAndUpdateResponse(r *crud.DocumentResult, f crud.Format) (*pb.FindOneAndUpdateResponse, error) {
	d, err := documentResponse(r, f)
	if err != nil {
		return nil, err
	}
	return &pb.FindOneAndUpdateResponse{Document: d}, nil
}

func findOneAndReplaceResponse(r *crud.DocumentResult, f crud.Format) (*pb.FindOneAndReplaceResponse, error) {
	d, err := documentResponse(r, f)
	if err != nil {
		return nil, err
	}
	return &pb.FindOneAndReplaceResponse{Document: d}, nil
}

func findOneAndDeleteResponse(r *crud.DocumentResult, f crud.Format) (*pb.FindOneAndDeleteResponse, error) {
	d, err := documentResponse(r, f)
	if err != nil {
		return nil, err
	}
	return &pb.FindOneAndDeleteResponse{Document: d}, nil
}

func countDocumentsResponse(r *crud.CountResult, _ crud.Format) (*pb.CountDocumentsResponse, error) {
	return &pb.CountDocumentsResponse{Count: r.Count}, nil
}

func distinctResponse(r *crud.DistinctResult, f crud.Format) (*pb.DistinctResponse, error) {
	values := make([]*pb.Value, len(r.Values))
	for i, v := range r.Values {
		pv, err := valueResponse(v, f)
		if err != nil {
			return nil, err
		}
		values[i] = pv
	}
	return &pb.DistinctResponse{Values: values}, nil
}

func bulkWriteResponse(r *crud.BulkWriteResult, f crud.Format) (*pb.BulkWriteResponse, error) {
	inserted, err := indexedIDsResponse(r.InsertedIDs, f)
	if err != nil {
		return nil, err
	}
	upserted, err := indexedIDsResponse(r.UpsertedIDs, f)
	if err != nil {
		return nil, err
	}
	return &pb.BulkWriteResponse{
		InsertedCount: r.Inserted, MatchedCount: r.Matched, ModifiedCount: r.Modified,
		DeletedCount: r.Deleted, UpsertedCount: r.Upserted,
		UpsertedIds: upserted, InsertedIds: inserted, Acknowledged: r.Acknowledged,
	}, nil
}

func indexedIDsResponse(ids []crud.IndexedID, f crud.Format) ([]*pb.IndexedId, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]*pb.IndexedId, len(ids))
	for i, id := range ids {
		v, err := valueResponse(id.ID, f)
		if err != nil {
			return nil, err
		}
		out[i] = &pb.IndexedId{Index: id.Index, Id: v}
	}
	return out, nil
}
