package mongogate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// metaOperationIndex is the ErrorInfo metadata key by which RunTransaction
// names the operation that failed.
const metaOperationIndex = "operation_index"

// TxnOp is one operation of Client.RunTransaction, made by a Collection's
// ...Op methods: InsertOneOp, UpdateOneOp and the rest, which take the
// arguments and options of the methods they are named after. Its
// documents are encoded when it is made; an encoding error is reported by
// RunTransaction.
type TxnOp struct {
	coll   *Collection
	op     *pb.Operation
	err    error
	result func(*pb.OperationResult) (any, error)
}

// InsertOneOp is InsertOne as an operation of RunTransaction; its result
// is an *InsertOneResult.
func (c *Collection) InsertOneOp(document any, opts ...*options.InsertOneOptions) TxnOp {
	doc, err := requiredDocOf("document", document)
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{
			Namespace: c.ns(), Document: doc, Options: insertOneOptionsOf(merge(opts)),
		}}},
		result: func(r *pb.OperationResult) (any, error) { return resultOf(r.GetInsertOne(), insertOneResultOf) },
	}
}

// InsertManyOp is InsertMany as an operation of RunTransaction; its result
// is an *InsertManyResult.
func (c *Collection) InsertManyOp(documents any, opts ...*options.InsertManyOptions) TxnOp {
	docs, err := insertManyDocsOf(documents)
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_InsertMany{InsertMany: &pb.InsertManyOperation{
			Namespace: c.ns(), Documents: docs, Options: insertManyOptionsOf(merge(opts)),
		}}},
		result: func(r *pb.OperationResult) (any, error) { return resultOf(r.GetInsertMany(), insertManyResultOf) },
	}
}

// UpdateOneOp is UpdateOne as an operation of RunTransaction; its result
// is an *UpdateResult.
func (c *Collection) UpdateOneOp(filter, update any, opts ...*options.UpdateOptions) TxnOp {
	f, ud, up, po, err := updateArgsOf(filter, update, merge(opts))
	o := &pb.UpdateOneOperation{Namespace: c.ns(), Filter: f, Options: po}
	if up != nil {
		o.UpdateSpec = &pb.UpdateOneOperation_UpdatePipeline{UpdatePipeline: up}
	} else {
		o.UpdateSpec = &pb.UpdateOneOperation_Update{Update: ud}
	}
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_UpdateOne{UpdateOne: o}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetUpdateOne(), func(r *pb.UpdateOneResponse) (*UpdateResult, error) { return updateResultOf(r) })
		},
	}
}

// UpdateManyOp is UpdateMany as an operation of RunTransaction; its result
// is an *UpdateResult.
func (c *Collection) UpdateManyOp(filter, update any, opts ...*options.UpdateOptions) TxnOp {
	f, ud, up, po, err := updateArgsOf(filter, update, merge(opts))
	o := &pb.UpdateManyOperation{Namespace: c.ns(), Filter: f, Options: po}
	if up != nil {
		o.UpdateSpec = &pb.UpdateManyOperation_UpdatePipeline{UpdatePipeline: up}
	} else {
		o.UpdateSpec = &pb.UpdateManyOperation_Update{Update: ud}
	}
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_UpdateMany{UpdateMany: o}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetUpdateMany(), func(r *pb.UpdateManyResponse) (*UpdateResult, error) { return updateResultOf(r) })
		},
	}
}

// ReplaceOneOp is ReplaceOne as an operation of RunTransaction; its result
// is an *UpdateResult.
func (c *Collection) ReplaceOneOp(filter, replacement any, opts ...*options.ReplaceOptions) TxnOp {
	f, r, po, err := replaceArgsOf(filter, replacement, merge(opts))
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_ReplaceOne{ReplaceOne: &pb.ReplaceOneOperation{
			Namespace: c.ns(), Filter: f, Replacement: r, Options: po,
		}}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetReplaceOne(), func(r *pb.ReplaceOneResponse) (*UpdateResult, error) { return updateResultOf(r) })
		},
	}
}

// DeleteOneOp is DeleteOne as an operation of RunTransaction; its result
// is a *DeleteResult.
func (c *Collection) DeleteOneOp(filter any, opts ...*options.DeleteOptions) TxnOp {
	f, po, err := deleteArgsOf(filter, merge(opts))
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_DeleteOne{DeleteOne: &pb.DeleteOneOperation{
			Namespace: c.ns(), Filter: f, Options: po,
		}}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetDeleteOne(), func(r *pb.DeleteOneResponse) (*DeleteResult, error) { return deleteResultOf(r), nil })
		},
	}
}

// DeleteManyOp is DeleteMany as an operation of RunTransaction; its result
// is a *DeleteResult.
func (c *Collection) DeleteManyOp(filter any, opts ...*options.DeleteOptions) TxnOp {
	f, po, err := deleteArgsOf(filter, merge(opts))
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_DeleteMany{DeleteMany: &pb.DeleteManyOperation{
			Namespace: c.ns(), Filter: f, Options: po,
		}}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetDeleteMany(), func(r *pb.DeleteManyResponse) (*DeleteResult, error) { return deleteResultOf(r), nil })
		},
	}
}

// FindOneOp is FindOne as an operation of RunTransaction; its result is a
// *SingleResult, whose Err is ErrNoDocuments if nothing matched (which
// does not fail the transaction).
func (c *Collection) FindOneOp(filter any, opts ...*options.FindOneOptions) TxnOp {
	t := TxnOp{
		coll: c,
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetFindOne(), func(r *pb.FindOneResponse) (*SingleResult, error) {
				return singleResult(r.GetDocument()), nil
			})
		},
	}
	req, err := c.findOneRequest(filter, merge(opts))
	if err != nil {
		t.err = err
		return t
	}
	t.op = &pb.Operation{Operation: &pb.Operation_FindOne{FindOne: &pb.FindOneOperation{
		Namespace: req.GetNamespace(), Filter: req.GetFilter(), Options: req.GetOptions(),
	}}}
	return t
}

// CountDocumentsOp is CountDocuments as an operation of RunTransaction;
// its result is an int64.
func (c *Collection) CountDocumentsOp(filter any, opts ...*options.CountOptions) TxnOp {
	f, po, err := countArgsOf(filter, merge(opts))
	return TxnOp{
		coll: c, err: err,
		op: &pb.Operation{Operation: &pb.Operation_CountDocuments{CountDocuments: &pb.CountDocumentsOperation{
			Namespace: c.ns(), Filter: f, Options: po,
		}}},
		result: func(r *pb.OperationResult) (any, error) {
			return resultOf(r.GetCountDocuments(), func(r *pb.CountDocumentsResponse) (int64, error) { return r.GetCount(), nil })
		},
	}
}

// errResultKind: the server answered an operation with a result of another
// kind, or none.
var errResultKind = errors.New("mongogate: RunTransaction result does not match its operation")

// resultOf converts one operation's response; a nil response means the
// server sent a result of another kind.
func resultOf[R any, T any](resp *R, convert func(*R) (T, error)) (any, error) {
	if resp == nil {
		return nil, errResultKind
	}
	return convert(resp)
}

// RunTransactionResult is the result of RunTransaction.
type RunTransactionResult struct {
	// Results holds one result per operation, in their order, of the type
	// the operation's method documents: the type its single-operation
	// counterpart returns (*InsertOneResult, *UpdateResult, *SingleResult,
	// int64, ...).
	Results []any
	// TransactionNumber is the number, within the session, of the
	// transaction that committed.
	TransactionNumber int64
	// Attempts is how many times the transaction ran: 1 if the first
	// attempt committed.
	Attempts int
}

// RunTransaction runs ops atomically in one transaction, in one round trip:
// the server starts the transaction, runs the operations in order and
// commits, with the retries of Session.WithTransaction (a transient
// transaction error reruns every operation, an unknown commit result
// recommits) until the options' Timeout, 120 s by default, or ctx ends.
// It suits programs that know their writes up front; one whose writes
// depend on what it reads uses Session.WithTransaction.
//
// It runs in the session ctx carries (see NewSessionContext), which must
// have no transaction open, and otherwise in a session the server starts
// and ends for the call. Every operation's collection must come from c
// and from one backend; the transaction's write concern applies, not the
// collections'.
//
// If an operation fails for good, the transaction is aborted, nothing is
// written, and the error is that operation's; Error.OperationIndex says
// which one it was.
func (c *Client) RunTransaction(ctx context.Context, ops []TxnOp, opts ...*options.RunTransactionOptions) (*RunTransactionResult, error) {
	if c.closed.Load() {
		return nil, ErrClientClosed
	}
	if len(ops) == 0 {
		return nil, errors.New("mongogate: RunTransaction needs at least one operation")
	}
	req := &pb.RunTransactionRequest{Operations: make([]*pb.Operation, len(ops)), ResponseFormat: responseFormat}
	for i, op := range ops {
		switch {
		case op.coll == nil:
			return nil, fmt.Errorf("mongogate: operations[%d] is empty", i)
		case op.err != nil:
			return nil, fmt.Errorf("%w (operations[%d])", op.err, i)
		case op.coll.db.client != c:
			return nil, fmt.Errorf("mongogate: operations[%d] is on a collection of another Client", i)
		case op.coll.db.backend != ops[0].coll.db.backend:
			return nil, fmt.Errorf("mongogate: operations[%d] uses backend %q, operations[0] %q", i, op.coll.db.backend, ops[0].coll.db.backend)
		}
		req.Operations[i] = op.op
	}
	req.Client = ops[0].coll.db.backend
	txns := c.txns
	if s := SessionFromContext(ctx); s != nil {
		if s.client != c {
			return nil, errForeignSession
		}
		if s.isEnded() {
			return nil, ErrSessionEnded
		}
		req.SessionToken = s.token
		txns = s.txnsRPC()
	}
	o := merge(opts)
	to, err := transactionOptionsOf(&options.TransactionOptions{
		ReadConcern: o.ReadConcern, WriteConcern: o.WriteConcern,
		ReadPreference: o.ReadPreference, MaxCommitTime: o.MaxCommitTime,
	})
	if err != nil {
		return nil, err
	}
	req.Options, req.Timeout = to, durationOf(o.Timeout)

	cctx, cancel := c.withTimeout(ctx)
	defer cancel()
	resp, err := txns.RunTransaction(cctx, req)
	if err != nil {
		return nil, fromStatus(err)
	}
	if len(resp.GetResults()) != len(ops) {
		return nil, fmt.Errorf("%w: %d results for %d operations", errResultKind, len(resp.GetResults()), len(ops))
	}
	out := &RunTransactionResult{
		Results:           make([]any, len(ops)),
		TransactionNumber: resp.GetTransactionNumber(),
		Attempts:          int(resp.GetAttempts()),
	}
	for i, r := range resp.GetResults() {
		if out.Results[i], err = ops[i].result(r); err != nil {
			return nil, fmt.Errorf("%w (operations[%d])", err, i)
		}
	}
	return out, nil
}

// OperationIndex reports which operation of RunTransaction, counted from
// 0, the error came from; ok is false for an error of no one operation
// (an expired session, a failed commit, ...).
func (e *Error) OperationIndex() (index int, ok bool) {
	n, err := strconv.Atoi(e.Metadata[metaOperationIndex])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
