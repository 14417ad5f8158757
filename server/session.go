package server

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/sessions"
	"github.com/mongogate/mongogate/txn"
)

type sessionService struct {
	pb.UnimplementedSessionServiceServer
	s *Server
}

// StartSession starts a driver session on the requested backend and
// registers it under a new token owned by the caller.
func (h *sessionService) StartSession(ctx context.Context, req *pb.StartSessionRequest) (*pb.StartSessionResponse, error) {
	s := h.s
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.backend(req.GetClient())
	if err != nil {
		return nil, err
	}
	if err := available(b); err != nil {
		return nil, err
	}
	opts, txnDefaults, err := sessionOptionsFromProto("options", req.GetOptions())
	if err != nil {
		return nil, err
	}
	if opts.IdleTimeout > s.maxIdle {
		return nil, errInvalidArgument("options.idle_timeout", fmt.Sprintf("must be at most %v, this server's maximum idle timeout", s.maxIdle))
	}
	causal := opts.CausalConsistency.Or(b.CausalConsistency)
	if opts.Snapshot {
		// MongoDB: snapshot reads and causal consistency are exclusive.
		if opts.CausalConsistency == sessions.Yes {
			return nil, errInvalidArgument("options.causal_consistency", "a snapshot session cannot be causally consistent")
		}
		causal = false
	}
	sess, err := b.Client.StartSession(options.Session().SetCausalConsistency(causal).SetSnapshot(opts.Snapshot))
	if err != nil {
		return nil, err
	}
	e, err := s.reg.Create(p, b.Name, sess, opts, txn.NewState(txnDefaults))
	if err != nil {
		sess.EndSession(context.WithoutCancel(ctx))
		return nil, err
	}
	s.metrics.SessionStarted()
	s.log.DebugContext(ctx, "session started", "session", e.Redacted(), "client", b.Name, "principal", p)
	out, err := s.sessionToProto(e, true)
	if err != nil {
		return nil, err
	}
	return &pb.StartSessionResponse{Session: out}, nil
}

// RefreshSession extends the idle deadline without waiting behind running
// operations: it is the keep-alive of clients that hold a session.
func (h *sessionService) RefreshSession(ctx context.Context, req *pb.RefreshSessionRequest) (*pb.RefreshSessionResponse, error) {
	if req.GetSessionToken() == "" {
		return nil, errInvalidArgument("session_token", "a session token is required")
	}
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	idle, err := h.s.reg.Refresh(req.GetSessionToken(), p)
	if err != nil {
		return nil, err
	}
	resp := &pb.RefreshSessionResponse{ExpireTime: timestamppb.New(idle)}
	// The absolute deadline never moves; report it when the session can be
	// looked at without queueing.
	if abs, ok := h.s.reg.AbsoluteDeadline(req.GetSessionToken(), p); ok {
		resp.AbsoluteExpireTime = timestamppb.New(abs)
	}
	return resp, nil
}

// EndSession aborts an open transaction (never commits it) and ends the
// session; the token is unknown afterwards.
func (h *sessionService) EndSession(ctx context.Context, req *pb.EndSessionRequest) (*pb.EndSessionResponse, error) {
	if req.GetSessionToken() == "" {
		return nil, errInvalidArgument("session_token", "a session token is required")
	}
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	aborted, err := h.s.reg.End(ctx, req.GetSessionToken(), p)
	if err != nil {
		return nil, err
	}
	return &pb.EndSessionResponse{TransactionAborted: aborted}, nil
}

// GetSession reports the session's state and its last transaction's
// outcome: how a client whose Commit response was lost learns what
// happened. It queues behind running operations so it sees their result.
func (h *sessionService) GetSession(ctx context.Context, req *pb.GetSessionRequest) (*pb.GetSessionResponse, error) {
	if req.GetSessionToken() == "" {
		return nil, errInvalidArgument("session_token", "a session token is required")
	}
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	e, release, err := h.s.reg.Inspect(ctx, req.GetSessionToken(), p)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := h.s.sessionToProto(e, false)
	if err != nil {
		return nil, err
	}
	return &pb.GetSessionResponse{Session: out}, nil
}

// sessionToProto describes e; the token is included only in StartSession's
// answer, the one place a client learns it.
func (s *Server) sessionToProto(e *sessions.Entry, withToken bool) (*pb.Session, error) {
	idle, abs := s.reg.Deadlines(e)
	t := txn.Describe(e)
	opts, err := sessionOptionsToProto(e.Options, t.Defaults, 0)
	if err != nil {
		return nil, err
	}
	out := &pb.Session{
		Client:             e.Backend,
		InstanceId:         sessions.InstanceOf(e.Token),
		InstanceAddress:    s.address,
		CreatedTime:        timestamppb.New(s.reg.Created(e)),
		ExpireTime:         timestamppb.New(idle),
		AbsoluteExpireTime: timestamppb.New(abs),
		IdleTimeout:        durationpb.New(s.reg.IdleTimeout(e)),
		State:              pb.SessionState_SESSION_STATE_ACTIVE,
		Options:            opts,
	}
	if withToken {
		out.Token = e.Token
	}
	if t.Status == txn.InProgress {
		out.State = pb.SessionState_SESSION_STATE_IN_TRANSACTION
	}
	if t.Number > 0 {
		out.LastTransaction = &pb.TransactionStatus{
			TransactionNumber: t.Number,
			Outcome:           txnOutcomeToProto(t.Status),
			Depth:             int32(t.Depth),
			StartTime:         timestamppb.New(t.Started),
		}
	}
	return out, nil
}
