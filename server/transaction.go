package server

import (
	"context"
	"fmt"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

type transactionService struct {
	pb.UnimplementedTransactionServiceServer
	s *Server
}

// StartTransaction opens a transaction on the session, or joins the open
// one with join_existing (depth + 1).
func (h *transactionService) StartTransaction(ctx context.Context, req *pb.StartTransactionRequest) (*pb.StartTransactionResponse, error) {
	opts, err := transactionOptionsFromProto("options", req.GetOptions())
	if err != nil {
		return nil, err
	}
	ctx, e, release, err := h.s.acquire(ctx, req.GetSessionToken())
	if err != nil {
		return nil, err
	}
	defer release()
	b := h.s.backends.Get(e.Backend)
	if b == nil {
		// toStatus makes it INTERNAL and logs it.
		return nil, fmt.Errorf("server: session bound to backend %q, which this server does not have", e.Backend)
	}
	number, depth, err := h.s.txn.Start(ctx, e, opts, req.GetJoinExisting(), b.Transactions)
	if err != nil {
		return nil, err
	}
	return &pb.StartTransactionResponse{TransactionNumber: number, Depth: int32(depth)}, nil
}

// CommitTransaction commits the outermost level (retrying an unknown commit
// result until it is known or the retry limit passes) or closes one nested
// level. Committing an already committed transaction again succeeds.
func (h *transactionService) CommitTransaction(ctx context.Context, req *pb.CommitTransactionRequest) (*pb.CommitTransactionResponse, error) {
	ctx, e, release, err := h.s.acquire(ctx, req.GetSessionToken())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := h.s.txn.Commit(ctx, e, req.GetTransactionNumber())
	if err != nil {
		return nil, err
	}
	return &pb.CommitTransactionResponse{TransactionNumber: res.Number, Depth: int32(res.Depth), Committed: res.Committed}, nil
}

// AbortTransaction aborts the whole transaction whatever the depth; an
// abort of an already aborted transaction succeeds with aborted=false.
func (h *transactionService) AbortTransaction(ctx context.Context, req *pb.AbortTransactionRequest) (*pb.AbortTransactionResponse, error) {
	ctx, e, release, err := h.s.acquire(ctx, req.GetSessionToken())
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := h.s.txn.Abort(ctx, e, req.GetTransactionNumber())
	if err != nil {
		return nil, err
	}
	return &pb.AbortTransactionResponse{TransactionNumber: res.Number, Aborted: res.Aborted}, nil
}
