// Package server is mongogate's gRPC edge: the SessionService,
// TransactionService and DocumentService implementations, and the transport
// around them.
//
// Every handler does the same three things: validate the request and
// convert it to domain types (codec.go), call the domain packages
// (sessions, txn, crud), and turn a failure into a gRPC status with
// toStatus (status.go), the one place where errors become codes and
// google.rpc.ErrorInfo reasons. Clients branch on code + reason; messages
// are for humans and never carry a whole session token.
//
// Around the handlers, ServerOptions (interceptors.go) installs, outermost
// first: request logging through log/slog (method, code, reason, duration,
// principal; never tokens or documents), Prometheus metrics (metrics.go),
// panic recovery, authentication (auth.go) for everything but the health
// and reflection services, and a last guard that passes any error a
// handler forgot to map through toStatus.
package server
