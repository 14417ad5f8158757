package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testkit"
)

// rpcTimeout bounds each call of the raw clients: a call to a paused
// instance waits until then.
const rpcTimeout = 5 * time.Second

// transferTimeout bounds a whole RunTransaction.
const transferTimeout = 20 * time.Second

// goTransfer moves money with the Go client: a session of its own,
// WithTransaction (its retries, its routing of the session's calls to
// the owner), the outcome recorded.
func (b *bank) goTransfer(_ *rand.Rand, tr *transfer) {
	// No deadline: every call gets the client's own (callTimeout), and
	// WithTransaction its 120 s retry limit.
	ctx := context.Background()
	s, err := b.gc.StartSession(ctx)
	if err != nil {
		tr.logf("StartSession: %v", err)
		tr.verdict = notCommitted
		time.Sleep(100 * time.Millisecond)
		return
	}
	defer func() {
		ectx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		_ = s.End(ectx)
	}()
	tr.logf("session %s", s.ID())
	accts := b.gc.Database(b.db).Collection("accounts")
	xfers := b.gc.Database(b.db).Collection("transfers")
	calls, fnOK := 0, false
	_, err = s.WithTransaction(ctx, func(sctx context.Context) (any, error) {
		calls++
		fnOK = false
		r, err := accts.UpdateOne(sctx, bson.D{{Key: "_id", Value: tr.from}, {Key: "balance", Value: bson.D{{Key: "$gte", Value: tr.amount}}}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: -tr.amount}}}})
		if err != nil {
			return nil, err
		}
		if r.MatchedCount == 0 {
			return nil, errInsufficient
		}
		if _, err := accts.UpdateOne(sctx, bson.D{{Key: "_id", Value: tr.to}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: tr.amount}}}}); err != nil {
			return nil, err
		}
		if _, err := xfers.InsertOne(sctx, tr.doc()); err != nil {
			return nil, err
		}
		fnOK = true
		return nil, nil
	}, options.Transaction().SetRecordOutcome(true))
	tr.logf("WithTransaction after %d attempt(s): %v", calls, err)
	switch {
	case err == nil:
		tr.verdict = committed
	case !fnOK:
		// The last attempt failed before its commit was sent (and the
		// earlier ones were told aborted).
		tr.verdict = notCommitted
	case errors.Is(err, mongogate.ErrTransactionAborted) && !errors.Is(err, mongogate.ErrUnknownCommitResult):
		tr.verdict = notCommitted
	default:
		// The session is new, so its attempts are transactions 1…calls.
		tr.resolved = true
		tr.verdict = b.resolveGo(s, tr, int64(calls))
	}
}

// resolveGo asks with the Go client how transaction number of s ended.
func (b *bank) resolveGo(s *mongogate.Session, tr *transfer, number int64) verdict {
	deadline := time.Now().Add(resolveFor)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		o, err := s.TransactionOutcome(ctx, number)
		cancel()
		tr.logf("TransactionOutcome(%d): %v, %v", number, o, err)
		switch {
		case err == nil && o == mongogate.OutcomeCommitted:
			return resolvedCommitted
		case err == nil && o == mongogate.OutcomeAborted:
			return resolvedAborted
		}
		time.Sleep(300 * time.Millisecond)
	}
	return unresolved
}

func (tr *transfer) doc() bson.D {
	return bson.D{{Key: "_id", Value: tr.id}, {Key: "from", Value: tr.from}, {Key: "to", Value: tr.to}, {Key: "amount", Value: tr.amount}}
}

func (tr *transfer) json() string {
	b, _ := bson.MarshalExtJSON(tr.doc(), true, false)
	return string(b)
}

func jsonDoc(v bson.D) *pb.Document {
	b, _ := bson.MarshalExtJSON(v, true, false)
	return &pb.Document{Value: &pb.Document_Json{Json: string(b)}}
}

func (b *bank) ns(coll string) *pb.Namespace { return &pb.Namespace{Database: b.db, Collection: coll} }

// call runs one raw RPC with its own deadline.
func call[T any](f func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	return f(ctx)
}

// rawSession starts a session through nginx for tr and returns its
// token and the func that ends it; ok is false (tr not committed) when
// it could not start.
func (b *bank) rawSession(tr *transfer) (token string, end func(), ok bool) {
	lb := b.lbStubs
	start, err := call(func(ctx context.Context) (*pb.StartSessionResponse, error) {
		return lb.Sessions.StartSession(ctx, &pb.StartSessionRequest{})
	})
	if err != nil {
		tr.logf("StartSession: %v", err)
		tr.verdict = notCommitted
		time.Sleep(100 * time.Millisecond)
		return "", nil, false
	}
	token = start.GetSession().GetToken()
	tr.logf("session %s", token[:min(len(token), 24)])
	return token, func() {
		_, _ = call(func(ctx context.Context) (*pb.EndSessionResponse, error) {
			return lb.Sessions.EndSession(ctx, &pb.EndSessionRequest{SessionToken: token})
		})
	}, true
}

// rawTransfer moves money with explicit RPCs through nginx, each landing
// on any instance and forwarded to the session's owner.
func (b *bank) rawTransfer(_ *rand.Rand, tr *transfer) {
	lb := b.lbStubs
	token, end, ok := b.rawSession(tr)
	if !ok {
		return
	}
	defer end()
	record := true
	st, err := call(func(ctx context.Context) (*pb.StartTransactionResponse, error) {
		return lb.Txns.StartTransaction(ctx, &pb.StartTransactionRequest{SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &record}})
	})
	if err != nil {
		tr.logf("StartTransaction: %v", err)
		tr.verdict = notCommitted
		return
	}
	number := st.GetTransactionNumber()
	abort := func(why string, err error) {
		tr.logf("%s: %v; aborting", why, err)
		_, aerr := call(func(ctx context.Context) (*pb.AbortTransactionResponse, error) {
			return lb.Txns.AbortTransaction(ctx, &pb.AbortTransactionRequest{SessionToken: token, TransactionNumber: number})
		})
		tr.logf("AbortTransaction: %v", aerr)
		tr.verdict = notCommitted
	}
	r, err := call(func(ctx context.Context) (*pb.UpdateOneResponse, error) {
		return lb.Docs.UpdateOne(ctx, &pb.UpdateOneRequest{SessionToken: token, Namespace: b.ns("accounts"),
			Filter:     jsonDoc(bson.D{{Key: "_id", Value: tr.from}, {Key: "balance", Value: bson.D{{Key: "$gte", Value: tr.amount}}}}),
			UpdateSpec: &pb.UpdateOneRequest_Update{Update: jsonDoc(bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: -tr.amount}}}})}})
	})
	if err != nil {
		abort("UpdateOne from", err)
		return
	}
	if r.GetMatchedCount() == 0 {
		abort("UpdateOne from", errInsufficient)
		return
	}
	if _, err := call(func(ctx context.Context) (*pb.UpdateOneResponse, error) {
		return lb.Docs.UpdateOne(ctx, &pb.UpdateOneRequest{SessionToken: token, Namespace: b.ns("accounts"),
			Filter:     jsonDoc(bson.D{{Key: "_id", Value: tr.to}}),
			UpdateSpec: &pb.UpdateOneRequest_Update{Update: jsonDoc(bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: tr.amount}}}})}})
	}); err != nil {
		abort("UpdateOne to", err)
		return
	}
	if _, err := call(func(ctx context.Context) (*pb.InsertOneResponse, error) {
		return lb.Docs.InsertOne(ctx, &pb.InsertOneRequest{SessionToken: token, Namespace: b.ns("transfers"),
			Document: &pb.Document{Value: &pb.Document_Json{Json: tr.json()}}})
	}); err != nil {
		abort("InsertOne transfer", err)
		return
	}
	for attempt := 1; ; attempt++ {
		_, err := call(func(ctx context.Context) (*pb.CommitTransactionResponse, error) {
			return lb.Txns.CommitTransaction(ctx, &pb.CommitTransactionRequest{SessionToken: token, TransactionNumber: number})
		})
		tr.logf("CommitTransaction(%d) attempt %d: %v", number, attempt, err)
		switch {
		case err == nil:
			tr.verdict = committed
			return
		case testkit.IsReason(err, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED):
			tr.verdict = notCommitted
			return
		case status.Code(err) == codes.Unavailable && attempt < 5:
			// The contract's answer to UNKNOWN_COMMIT_RESULT, and to a
			// commit that may not have reached mongogate at all (a
			// proxy's 502, an unreachable owner): commit again.
			time.Sleep(300 * time.Millisecond)
			continue
		}
		tr.resolved = true
		switch b.resolveRaw(tr, token, number) {
		case outcomeCommitted:
			tr.verdict = resolvedCommitted
		case outcomeAborted, outcomeNone:
			tr.verdict = resolvedAborted
		default:
			tr.verdict = unresolved
		}
		return
	}
}

// runTransfer moves money with one RunTransaction through nginx, in a
// session of its own so that its attempts are transactions 1, 2, … of
// it. Insufficient funds make the first update an upsert of an existing
// _id, a duplicate key that aborts the transaction.
func (b *bank) runTransfer(_ *rand.Rand, tr *transfer) {
	lb := b.lbStubs
	token, end, ok := b.rawSession(tr)
	if !ok {
		return
	}
	defer end()
	record := true
	update := func(filter, upd bson.D, upsert bool) *pb.Operation {
		return &pb.Operation{Operation: &pb.Operation_UpdateOne{UpdateOne: &pb.UpdateOneOperation{
			Namespace: b.ns("accounts"), Filter: jsonDoc(filter),
			UpdateSpec: &pb.UpdateOneOperation_Update{Update: jsonDoc(upd)},
			Options:    &pb.UpdateOptions{Upsert: upsert},
		}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferTimeout)
	defer cancel()
	resp, err := lb.Txns.RunTransaction(ctx, &pb.RunTransactionRequest{
		SessionToken: token, Options: &pb.TransactionOptions{RecordOutcome: &record}, Timeout: durationpb.New(10 * time.Second),
		Operations: []*pb.Operation{
			update(bson.D{{Key: "_id", Value: tr.from}, {Key: "balance", Value: bson.D{{Key: "$gte", Value: tr.amount}}}},
				bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: -tr.amount}}}}, true),
			update(bson.D{{Key: "_id", Value: tr.to}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: tr.amount}}}}, false),
			{Operation: &pb.Operation_InsertOne{InsertOne: &pb.InsertOneOperation{Namespace: b.ns("transfers"),
				Document: &pb.Document{Value: &pb.Document_Json{Json: tr.json()}}}}},
		},
	})
	tr.logf("RunTransaction: %v (transaction %d, %d attempts)", err, resp.GetTransactionNumber(), resp.GetAttempts())
	switch {
	case err == nil:
		tr.verdict = committed
		return
	case testkit.IsReason(err, codes.AlreadyExists, pb.ErrorReason_ERROR_REASON_DUPLICATE_KEY),
		testkit.IsReason(err, codes.Aborted, pb.ErrorReason_ERROR_REASON_TRANSACTION_ABORTED):
		tr.verdict = notCommitted
		return
	}
	// Which attempt got how far is unknown: ask about each in turn, until
	// one committed or one never started.
	tr.resolved = true
	for n := int64(1); n <= 64; n++ {
		switch b.resolveRaw(tr, token, n) {
		case outcomeCommitted:
			tr.verdict = resolvedCommitted
			return
		case outcomeAborted:
			continue
		case outcomeNone:
			tr.verdict = resolvedAborted
			return
		default:
			tr.verdict = unresolved
			return
		}
	}
	tr.verdict = unresolved
}

type rawOutcome int

const (
	outcomeUnresolved rawOutcome = iota
	outcomeCommitted
	outcomeAborted
	// outcomeNone: the transaction has no record: it never started.
	outcomeNone
)

// resolveRaw asks through nginx how transaction number of token ended,
// until the answer is definite.
func (b *bank) resolveRaw(tr *transfer, token string, number int64) rawOutcome {
	deadline := time.Now().Add(resolveFor)
	for time.Now().Before(deadline) {
		resp, err := call(func(ctx context.Context) (*pb.GetTransactionOutcomeResponse, error) {
			return b.lbStubs.Txns.GetTransactionOutcome(ctx, &pb.GetTransactionOutcomeRequest{SessionToken: token, TransactionNumber: number})
		})
		tr.logf("GetTransactionOutcome(%d): %v from_record=%v, %v", number, resp.GetOutcome(), resp.GetFromRecord(), err)
		switch {
		case err == nil && resp.GetOutcome() == pb.TransactionOutcome_TRANSACTION_OUTCOME_COMMITTED:
			return outcomeCommitted
		case err == nil && resp.GetOutcome() == pb.TransactionOutcome_TRANSACTION_OUTCOME_ABORTED:
			return outcomeAborted
		case err == nil && resp.GetOutcome() == pb.TransactionOutcome_TRANSACTION_OUTCOME_UNKNOWN && !resp.GetFromRecord():
			return outcomeNone
		case testkit.IsReason(err, codes.FailedPrecondition, pb.ErrorReason_ERROR_REASON_NO_TRANSACTION),
			testkit.IsReason(err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND):
			return outcomeNone
		}
		time.Sleep(300 * time.Millisecond)
	}
	return outcomeUnresolved
}
