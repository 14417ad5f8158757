package server

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"google.golang.org/grpc/codes"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/txn"
)

// txnOp is one converted RunTransaction operation: the crud operation,
// the name of its Operation oneof field (for error paths), and how its
// result becomes an OperationResult.
type txnOp struct {
	field  string
	op     crud.Op
	result func(crud.Result, crud.Format) (*pb.OperationResult, error)
}

// newTxnOp pairs op with the response converter that DocumentService uses
// for it, and wrap, which puts that response in its OperationResult field.
func newTxnOp[R crud.Result, P any](field string, op crud.Op, err error,
	encode func(R, crud.Format) (P, error), wrap func(P) *pb.OperationResult,
) (txnOp, error) {
	if err != nil {
		return txnOp{field: field}, err
	}
	return txnOp{field: field, op: op, result: func(r crud.Result, f crud.Format) (*pb.OperationResult, error) {
		typed, ok := r.(R)
		if !ok {
			return nil, fmt.Errorf("server: %s returned a %T result", field, r)
		}
		p, err := encode(typed, f)
		if err != nil {
			return nil, err
		}
		return wrap(p), nil
	}}, nil
}

// operationFromProto converts one RunTransaction operation with the same
// converters as the DocumentService requests. Error field paths are
// relative to the operation's oneof field.
func operationFromProto(o *pb.Operation) (txnOp, error) {
	switch v := o.GetOperation().(type) {
	case *pb.Operation_InsertOne:
		op, err := insertOneFromProto(v.InsertOne)
		return newTxnOp("insert_one", op, err, insertOneResponse, func(p *pb.InsertOneResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_InsertOne{InsertOne: p}}
		})
	case *pb.Operation_InsertMany:
		op, err := insertManyFromProto(v.InsertMany)
		return newTxnOp("insert_many", op, err, insertManyResponse, func(p *pb.InsertManyResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_InsertMany{InsertMany: p}}
		})
	case *pb.Operation_UpdateOne:
		op, err := updateOneFromProto(v.UpdateOne)
		return newTxnOp("update_one", op, err, updateOneResponse, func(p *pb.UpdateOneResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_UpdateOne{UpdateOne: p}}
		})
	case *pb.Operation_UpdateMany:
		op, err := updateManyFromProto(v.UpdateMany)
		return newTxnOp("update_many", op, err, updateManyResponse, func(p *pb.UpdateManyResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_UpdateMany{UpdateMany: p}}
		})
	case *pb.Operation_ReplaceOne:
		op, err := replaceOneFromProto(v.ReplaceOne)
		return newTxnOp("replace_one", op, err, replaceOneResponse, func(p *pb.ReplaceOneResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_ReplaceOne{ReplaceOne: p}}
		})
	case *pb.Operation_DeleteOne:
		op, err := deleteOneFromProto(v.DeleteOne)
		return newTxnOp("delete_one", op, err, deleteOneResponse, func(p *pb.DeleteOneResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_DeleteOne{DeleteOne: p}}
		})
	case *pb.Operation_DeleteMany:
		op, err := deleteManyFromProto(v.DeleteMany)
		return newTxnOp("delete_many", op, err, deleteManyResponse, func(p *pb.DeleteManyResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_DeleteMany{DeleteMany: p}}
		})
	case *pb.Operation_BulkWrite:
		op, err := bulkWriteFromProto(v.BulkWrite)
		return newTxnOp("bulk_write", op, err, bulkWriteResponse, func(p *pb.BulkWriteResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_BulkWrite{BulkWrite: p}}
		})
	case *pb.Operation_FindOne:
		op, err := findOneFromProto(v.FindOne)
		return newTxnOp("find_one", op, err, findOneResponse, func(p *pb.FindOneResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_FindOne{FindOne: p}}
		})
	case *pb.Operation_FindOneAndUpdate:
		op, err := findOneAndUpdateFromProto(v.FindOneAndUpdate)
		return newTxnOp("find_one_and_update", op, err, findOneAndUpdateResponse, func(p *pb.FindOneAndUpdateResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_FindOneAndUpdate{FindOneAndUpdate: p}}
		})
	case *pb.Operation_FindOneAndReplace:
		op, err := findOneAndReplaceFromProto(v.FindOneAndReplace)
		return newTxnOp("find_one_and_replace", op, err, findOneAndReplaceResponse, func(p *pb.FindOneAndReplaceResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_FindOneAndReplace{FindOneAndReplace: p}}
		})
	case *pb.Operation_FindOneAndDelete:
		op, err := findOneAndDeleteFromProto(v.FindOneAndDelete)
		return newTxnOp("find_one_and_delete", op, err, findOneAndDeleteResponse, func(p *pb.FindOneAndDeleteResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_FindOneAndDelete{FindOneAndDelete: p}}
		})
	case *pb.Operation_CountDocuments:
		op, err := countDocumentsFromProto(v.CountDocuments)
		return newTxnOp("count_documents", op, err, countDocumentsResponse, func(p *pb.CountDocumentsResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_CountDocuments{CountDocuments: p}}
		})
	case *pb.Operation_Distinct:
		op, err := distinctFromProto(v.Distinct)
		return newTxnOp("distinct", op, err, distinctResponse, func(p *pb.DistinctResponse) *pb.OperationResult {
			return &pb.OperationResult{Result: &pb.OperationResult_Distinct{Distinct: p}}
		})
	}
	e := &apiError{code: codes.InvalidArgument, reason: pb.ErrorReason_ERROR_REASON_INVALID_ARGUMENT, msg: "invalid operation: none is set"}
	e.badField("", "required: one of insert_one, insert_many, update_one, update_many, replace_one, delete_one, "+
		"delete_many, bulk_write, find_one, find_one_and_update, find_one_and_replace, find_one_and_delete, "+
		"count_documents, distinct")
	return txnOp{}, e
}

// operationsFromProto converts and validates every operation, so that a
// bad list runs nothing. Errors name the operation: ErrorInfo metadata
// operation_index, and field paths such as
// "operations[2].insert_one.document".
func operationsFromProto(ops []*pb.Operation) ([]txnOp, error) {
	if len(ops) == 0 {
		return nil, errInvalidArgument("operations", "at least one operation is required")
	}
	out := make([]txnOp, len(ops))
	for i, o := range ops {
		op, err := operationFromProto(o)
		if err == nil {
			err = op.op.Validate()
		}
		if err != nil {
			return nil, withOperationIndex(err, i, op.field)
		}
		out[i] = op
	}
	return out, nil
}

// RunTransaction runs the request's operations atomically in one
// transaction, with the retry loop of the drivers' withTransaction (see
// txn.Manager.RunWithin): in the caller's session when the request has a
// token, else in a session of its own. Nothing runs unless every
// operation converts, validates and is authorized.
func (h *transactionService) RunTransaction(ctx context.Context, req *pb.RunTransactionRequest) (*pb.RunTransactionResponse, error) {
	ops, err := operationsFromProto(req.GetOperations())
	if err != nil {
		return nil, err
	}
	opts, err := transactionOptionsFromProto("options", req.GetOptions())
	if err != nil {
		return nil, err
	}
	timeout, err := durationFromProto("timeout", req.GetTimeout())
	if err != nil {
		return nil, err
	}
	f, err := formatFromProto(req.GetResponseFormat())
	if err != nil {
		return nil, err
	}
	// Every operation is authorized before any runs, so that one refused
	// operation runs none of them.
	for i, op := range ops {
		if err := h.s.authorize(ctx, op.op); err != nil {
			return nil, withOperationIndex(err, i, op.field)
		}
	}
	ctx, c, err := h.s.begin(ctx, req.GetSessionToken(), req.GetClient())
	if err != nil {
		return nil, err
	}
	defer c.done()
	if !c.backend.Transactions {
		return nil, fmt.Errorf("server: run transaction on client %q: %w", c.backend.Name, txn.ErrNotSupported)
	}

	// Each attempt starts over: results and the failed operation belong
	// to the last attempt only.
	var (
		results []*pb.OperationResult
		failed  = -1
		opErr   error
	)
	fn := func(ctx context.Context) error {
		results, failed, opErr = make([]*pb.OperationResult, 0, len(ops)), -1, nil
		// RunWithin passes the attempt's driver session in ctx.
		t := crud.Target{Client: c.backend.Client, Session: mongo.SessionFromContext(ctx)}
		for i, op := range ops {
			r, err := op.op.Run(ctx, t)
			if err == nil {
				var res *pb.OperationResult
				if res, err = op.result(r, f); err == nil {
					results = append(results, res)
					continue
				}
			}
			failed, opErr = i, err
			return err
		}
		return nil
	}
	var attempts int
	if c.entry != nil {
		attempts, err = h.s.txn.RunWithin(ctx, c.entry, opts, timeout, fn)
	} else {
		// A session of its own, on this backend for this caller.
		p, _ := principal(ctx)
		attempts, err = h.s.txn.RunOwn(ctx, c.backend.Client, c.backend.Name, p, opts, timeout, fn)
	}
	if err != nil {
		if opErr != nil && errors.Is(err, opErr) {
			return nil, withOperationIndex(err, failed, ops[failed].field)
		}
		return nil, err
	}
	number := int64(attempts)
	if c.entry != nil {
		number = txn.Describe(c.entry).Number
	}
	return &pb.RunTransactionResponse{Results: results, TransactionNumber: number, Attempts: int32(attempts)}, nil
}
