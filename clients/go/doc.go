// Package mongogate is the Go client of mongogate, the gRPC service that
// holds MongoDB sessions and transactions on the server and hands programs
// opaque session tokens.
//
// Its API mirrors the MongoDB Go driver's (go.mongodb.org/mongo-driver/v2):
// Client.Database(...).Collection(...) has InsertOne, Find, UpdateMany,
// BulkWrite and the rest, taking and returning documents as anything
// bson.Marshal and bson.Unmarshal handle, with per-operation options from
// the sibling package options (options.Find().SetSort(...)). Documents
// travel as BSON, so values keep their exact types.
//
// # Connecting
//
// New returns a Client; it connects on first use. Disconnect it when
// done, as with the driver; Disconnect ends the sessions the program still
// holds, within its context:
//
//	client, err := mongogate.New("localhost:50051")
//	if err != nil {
//		return err
//	}
//	defer client.Disconnect(ctx)
//
// Close is Disconnect with a few seconds of its own, for where no context
// is at hand.
//
// Loopback targets use plaintext, every other target TLS with the system's
// roots unless WithTLS or WithInsecure says otherwise. WithAPIKey
// authenticates each call with a bearer key.
//
// # Deadlines
//
// Every method takes a context first and honours its deadline and
// cancellation; the server receives the deadline and stops working when it
// passes. WithDefaultTimeout bounds calls whose context has none:
//
//	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
//	defer cancel()
//	res, err := coll.InsertOne(ctx, bson.D{{Key: "name", Value: "Ada"}})
//
// An expired deadline is an error that matches both ErrDeadlineExceeded
// and context.DeadlineExceeded.
//
// # Sessions and transactions
//
// A Session is a MongoDB session held by the server. An operation runs in
// it when its context carries it, via NewSessionContext, as with the
// driver's mongo.NewSessionContext. Client.UseSession (and
// UseSessionWithOptions) starts a session, calls a function with a context
// carrying it, and ends it however the function returns, as the driver's
// do; Session.WithTransaction runs a function in a transaction, retrying
// it and its commit as MongoDB's drivers do:
//
//	err := client.UseSession(ctx, func(ctx context.Context) error {
//		s := mongogate.SessionFromContext(ctx)
//		_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
//			if _, err := accounts.UpdateOne(ctx, from, debit); err != nil {
//				return nil, err
//			}
//			return accounts.UpdateOne(ctx, to, credit)
//		})
//		return err
//	})
//
// Client.RunTransaction runs writes known up front (built with
// Collection.InsertOneOp, UpdateOneOp, ...) as one transaction in a single
// round trip, the server doing WithTransaction's retries.
//
// While the program holds a Session a goroutine keeps it alive on the
// server (see WithKeepAliveInterval); End, UseSession and Disconnect stop
// it. WithSession, which also passes the session to its function, is
// UseSessionWithOptions under its earlier name.
// The session's token is a secret: Session.String and Session.ID show only
// a redacted form.
//
// # Change streams
//
// Collection.Watch, Database.Watch and Client.Watch return a ChangeStream,
// shaped like the driver's, over MongoDB change events. The server shares
// one MongoDB change stream among all its callers watching the same thing.
// A ChangeStream resumes by itself from its last resume token when the
// server instance goes away (through a load balancer, on another one),
// MongoDB is briefly unreachable, or the server cut it for reading too
// slowly (ErrWatchTooSlow); ResumeToken, saved with what the program did
// with an event, resumes after a restart too, on any instance:
//
//	cs, err := orders.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(saved))
//	if err != nil { ... }
//	defer cs.Close(ctx)
//	for cs.Next(ctx) {
//		handle(cs.Current)
//		saved = cs.ResumeToken()
//	}
//
// A token whose position has left MongoDB's oplog is
// ErrChangeStreamHistoryLost: start without one, after resynchronising.
//
// # Errors
//
// A call the server refuses returns an *Error holding the gRPC code, the
// ErrorInfo reason, and MongoDB's code, code name and error labels when
// MongoDB produced the error. Branch on the reason with errors.Is and the
// sentinels, never on message text:
//
//	_, err := coll.InsertOne(ctx, doc)
//	switch {
//	case errors.Is(err, mongogate.ErrDuplicateKey):
//		// the document exists
//	case errors.Is(err, mongogate.ErrSessionExpired), errors.Is(err, mongogate.ErrSessionNotFound):
//		// the session is gone: start a new one
//	case err != nil:
//		var e *mongogate.Error
//		if errors.As(err, &e) && e.RetryDelay > 0 {
//			// the server suggests retrying after e.RetryDelay
//		}
//	}
//
// The classes of errors:
//
//   - The request is wrong and retrying will not help: ErrInvalidArgument
//     (Error.Violations names the fields), ErrForbiddenOperator,
//     ErrNamespaceForbidden, ErrUnauthenticated, ErrNilDocument (raised by
//     the client before sending).
//   - The session is gone (ErrSessionNotFound, ErrSessionExpired, or
//     ErrSessionEnded after End) or is used wrongly (ErrSessionClientMismatch,
//     ErrTransactionInProgress, ErrNoTransaction,
//     ErrTransactionsNotSupported).
//   - The transaction failed but can be rerun from its start:
//     ErrTransactionAborted (or Error.HasErrorLabel(LabelTransientTransactionError)).
//   - The commit's outcome is unknown, so commit again: ErrUnknownCommitResult.
//     Session.WithTransaction handles both of these.
//   - Transient unavailability, with Error.RetryDelay set: ErrBackendUnavailable,
//     ErrShuttingDown, ErrSessionLimit; and codes.Unavailable without a
//     reason when the mongogate server itself cannot be reached.
//   - A change stream's start position is gone: ErrChangeStreamHistoryLost
//     (not retryable); a reader too slow for its stream: ErrWatchTooSlow
//     (ChangeStream resumes by itself).
//   - Data errors: ErrDuplicateKey, ErrNoDocuments (FindOne found
//     nothing), and ErrMongo for any other MongoDB error (see
//     Error.MongoCode).
//   - ErrDeadlineExceeded, ErrCanceled: the context ended or the server's
//     max time passed.
//
// An *Error unwraps to its gRPC status error, so status.FromError and
// status.Code work on it too.
package mongogate
