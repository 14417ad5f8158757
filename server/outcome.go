package server

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// GetTransactionOutcome tells how a transaction ended: from the session's
// state on its owner (this instance, or, through the forwarder, the live
// owner), or, when the owner does not answer, from the transaction's
// outcome record and what the directory knows (txn.Outcomes.Get).
func (h *transactionService) GetTransactionOutcome(ctx context.Context, req *pb.GetTransactionOutcomeRequest) (*pb.GetTransactionOutcomeResponse, error) {
	token, number := req.GetSessionToken(), req.GetTransactionNumber()
	if token == "" {
		return nil, errInvalidArgument("session_token", "a session token is required")
	}
	if number < 1 {
		return nil, errInvalidArgument("transaction_number", "must be at least 1")
	}
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	out, err := h.s.outcomes.Get(ctx, h.s.reg, h.s.peers, token, p, number)
	if err != nil {
		return nil, err
	}
	resp := &pb.GetTransactionOutcomeResponse{TransactionNumber: number, Outcome: txnOutcomeToProto(out.Status), FromRecord: out.FromRecord}
	if !out.ExpireAt.IsZero() {
		resp.RecordExpireTime = timestamppb.New(out.ExpireAt)
	}
	return resp, nil
}
