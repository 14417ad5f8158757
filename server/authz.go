package server

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/authz"
	"github.com/mongogate/mongogate/crud"
)

// authorize refuses op, a crud operation, unless the caller may do every
// access it needs (see accesses): PERMISSION_DENIED NAMESPACE_FORBIDDEN
// naming the first namespace refused. It runs before the operation takes
// the caller's session or sends anything to MongoDB, so a refused
// operation has no effect. mongogate's own collections (Config.Internal:
// the instance directory, the outcome records) are refused to everyone:
// a caller who could change them could misdirect forwarded calls or make
// GetTransactionOutcome lie. Otherwise, without Config.Authz everything
// is allowed.
func (s *Server) authorize(ctx context.Context, op any) error {
	if s.authz == nil && len(s.internal) == 0 {
		return nil
	}
	needs, err := accesses(op)
	if err != nil {
		return err
	}
	return s.allowed(ctx, needs)
}

// allowed refuses needs unless the caller may do every access in it, as
// authorize says.
func (s *Server) allowed(ctx context.Context, needs []authz.Access) error {
	for _, a := range needs {
		if s.internal[a.Namespace] {
			return &authz.DeniedError{Access: a}
		}
	}
	if s.authz == nil {
		return nil
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	return s.authz.Check(p, needs)
}

// accesses lists what op reads and writes, its own namespace first. A
// find-and-modify, like MongoDB's findAndModify, is a write (readWrite
// includes read). An aggregation reads its collection and whatever its
// stages name, and writes the targets of $out and $merge; pipeline
// updates are walked the same way, although MongoDB allows only stages
// that name no namespace in them. An operation type it does not know is
// an internal error, so that a new operation fails closed until it is
// listed here.
func accesses(op any) ([]authz.Access, error) {
	switch op := op.(type) {
	case crud.FindOne:
		return one(op.Namespace, authz.Read), nil
	case crud.Find:
		return one(op.Namespace, authz.Read), nil
	case crud.CountDocuments:
		return one(op.Namespace, authz.Read), nil
	case crud.Distinct:
		return one(op.Namespace, authz.Read), nil
	case crud.Aggregate:
		return withPipeline(one(op.Namespace, authz.Read), op.Namespace, "pipeline", op.Pipeline)
	case crud.InsertOne:
		return one(op.Namespace, authz.Write), nil
	case crud.InsertMany:
		return one(op.Namespace, authz.Write), nil
	case crud.ReplaceOne:
		return one(op.Namespace, authz.Write), nil
	case crud.DeleteOne:
		return one(op.Namespace, authz.Write), nil
	case crud.DeleteMany:
		return one(op.Namespace, authz.Write), nil
	case crud.FindOneAndReplace:
		return one(op.Namespace, authz.Write), nil
	case crud.FindOneAndDelete:
		return one(op.Namespace, authz.Write), nil
	case crud.UpdateOne:
		return withPipeline(one(op.Namespace, authz.Write), op.Namespace, "update_pipeline.stages", op.Update.Pipeline)
	case crud.UpdateMany:
		return withPipeline(one(op.Namespace, authz.Write), op.Namespace, "update_pipeline.stages", op.Update.Pipeline)
	case crud.FindOneAndUpdate:
		return withPipeline(one(op.Namespace, authz.Write), op.Namespace, "update_pipeline.stages", op.Update.Pipeline)
	case crud.BulkWrite:
		return bulkAccesses(op)
	}
	return nil, fmt.Errorf("server: authorize: no access list for operation %T", op)
}

func one(ns crud.Namespace, a authz.Action) []authz.Access {
	return []authz.Access{{Namespace: authz.Namespace{Database: ns.Database, Collection: ns.Collection}, Action: a}}
}

// withPipeline appends to needs what the stages of a pipeline on ns
// name. field is the stages' field path, for errors.
func withPipeline(needs []authz.Access, ns crud.Namespace, field string, stages []crud.Document) ([]authz.Access, error) {
	if len(stages) == 0 {
		return needs, nil
	}
	raw, err := decodeStages(field, stages)
	if err != nil {
		return nil, err
	}
	more, err := authz.PipelineAccesses(ns.Database, field, raw)
	if err != nil {
		return nil, err
	}
	return append(needs, more...), nil
}

func bulkAccesses(op crud.BulkWrite) ([]authz.Access, error) {
	needs := one(op.Namespace, authz.Write)
	for i, m := range op.Models {
		var (
			u     crud.Update
			field string
		)
		switch m := m.(type) {
		case crud.UpdateOneModel:
			u, field = m.Update, "update_one"
		case *crud.UpdateOneModel:
			u, field = m.Update, "update_one"
		case crud.UpdateManyModel:
			u, field = m.Update, "update_many"
		case *crud.UpdateManyModel:
			u, field = m.Update, "update_many"
		default:
			continue
		}
		var err error
		needs, err = withPipeline(needs, op.Namespace, fmt.Sprintf("models[%d].%s.update_pipeline.stages", i, field), u.Pipeline)
		if err != nil {
			return nil, err
		}
	}
	return needs, nil
}

// decodeStages decodes pipeline stages as crud does, so a stage that
// does not decode is the same INVALID_ARGUMENT it would be later.
func decodeStages(field string, stages []crud.Document) ([]bson.Raw, error) {
	out := make([]bson.Raw, len(stages))
	for i, d := range stages {
		raw, err := crud.Decode(fmt.Sprintf("%s[%d]", field, i), d)
		if err != nil {
			return nil, err
		}
		out[i] = raw
	}
	return out, nil
}
