package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mongogate/mongogate/directory"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

// GetTransactionOutcome tells how a transaction ended: from the session's
// state on its owner (this instance, or, through the forwarder, the live
// owner), or, when the owner is gone, from the transaction's outcome
// record and what the dead instance's survivors did.
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
	var resp *pb.GetTransactionOutcomeResponse
	if sessions.InstanceOf(token) == h.s.reg.InstanceID() {
		resp, err = h.s.localOutcome(ctx, token, p, number)
	} else {
		resp, err = h.s.goneOutcome(ctx, token, p, number)
	}
	if err != nil {
		return nil, err
	}
	resp.TransactionNumber = number
	return resp, nil
}

func outcome(o pb.TransactionOutcome) *pb.GetTransactionOutcomeResponse {
	return &pb.GetTransactionOutcomeResponse{Outcome: o}
}

// localOutcome answers for one of this instance's sessions.
func (s *Server) localOutcome(ctx context.Context, token, p string, number int64) (*pb.GetTransactionOutcomeResponse, error) {
	e, release, err := s.reg.Inspect(ctx, token, p)
	if errors.Is(err, sessions.ErrNotFound) || errors.Is(err, sessions.ErrExpired) {
		// Ended or expired: only a record can still tell.
		if resp, found, rerr := s.fromRecord(ctx, token, p, number, ""); rerr != nil || found {
			return resp, rerr
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	defer release()
	t := txn.Describe(e)
	switch {
	case number > t.Number:
		return nil, fmt.Errorf("server: transaction %d of a session at %d: %w", number, t.Number, txn.ErrNoTransaction)
	case number < t.Number || t.Status == txn.Unknown:
		// An earlier transaction ended before the current one began, or
		// the last commit's outcome is unknown here: a record settles it.
		if resp, found, err := s.fromRecord(ctx, token, p, number, e.Backend); err != nil || found {
			return resp, err
		}
		return outcome(pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN), nil
	}
	return outcome(txnOutcomeToProto(t.Status)), nil
}

// goneOutcome answers for the session of an instance that is gone (or
// cannot be reached).
func (s *Server) goneOutcome(ctx context.Context, token, p string, number int64) (*pb.GetTransactionOutcomeResponse, error) {
	if resp, found, err := s.fromRecord(ctx, token, p, number, ""); err != nil || found {
		return resp, err
	}
	owner := sessions.InstanceOf(token)
	if s.peers == nil || owner == "" {
		return nil, fmt.Errorf("server: instance %q: %w", owner, sessions.ErrNotFound)
	}
	inst, st, err := s.peers.Lookup(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("server: looking up instance %s: %w", owner, err)
	}
	switch st {
	case directory.Unknown:
		return nil, fmt.Errorf("server: no instance %s: %w", owner, sessions.ErrNotFound)
	case directory.Gone:
		id := txn.OutcomeID(token, number)
		for _, o := range inst.Open {
			if o.Outcome != id {
				continue
			}
			if o.Principal != p {
				return nil, fmt.Errorf("server: transaction of another principal: %w", sessions.ErrNotFound)
			}
			// It recorded its outcome, was open when the instance went,
			// and has been killed (or aborted at shutdown): no record, so
			// it did not commit, and now it never will.
			resp := outcome(pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED)
			resp.FromRecord = true
			return resp, nil
		}
	}
	// Dead but not yet reclaimed (its transactions may still commit), live
	// but unreachable, or gone with a transaction that recorded nothing.
	return outcome(pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN), nil
}

// fromRecord looks for the transaction's outcome record on backend, or on
// every backend when backend is "". found is true when it settles the
// answer: COMMITTED for the record's principal; for anyone else the
// session does not exist.
func (s *Server) fromRecord(ctx context.Context, token, p string, number int64, backend string) (*pb.GetTransactionOutcomeResponse, bool, error) {
	if s.outcomes == nil {
		return nil, false, nil
	}
	names := []string{backend}
	if backend == "" {
		names = names[:0]
		for _, b := range s.backends.All() {
			names = append(names, b.Name)
		}
	}
	id := txn.OutcomeID(token, number)
	for _, name := range names {
		coll := s.outcomes(name)
		if coll == nil {
			continue
		}
		r, found, err := txn.FindRecord(ctx, coll, id)
		if err != nil {
			return nil, false, err
		}
		if !found {
			continue
		}
		if r.Principal != p {
			return nil, false, fmt.Errorf("server: transaction of another principal: %w", sessions.ErrNotFound)
		}
		resp := outcome(pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED)
		resp.FromRecord = true
		resp.RecordExpireTime = timestamppb.New(r.ExpireAt)
		return resp, true, nil
	}
	return nil, false, nil
}
