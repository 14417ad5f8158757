// Package server is mongogate's gRPC edge: the SessionService,
// TransactionService, DocumentService and WatchService implementations,
// and the transport around them. WatchService (watch.go) is registered
// apart, with the watch.Hub that fans change streams out (RegisterWatch).
//
// Every handler does the same three things: validate the request and
// convert it to domain types (codec.go), call the domain packages
// (sessions, txn, crud), and return what failed as a plain error: a domain
// error, or an apiError (status.go) for what the server itself refuses.
// The status guard turns it into the gRPC status with toStatus
// (status.go), the one place where errors become codes and
// google.rpc.ErrorInfo reasons. Clients branch on code + reason; messages
// are for humans and never carry a whole session token.
//
// Around the handlers, ServerOptions (interceptors.go) installs, outermost
// first: request logging through log/slog (method, code, reason, duration,
// principal; never tokens or documents), Prometheus metrics (metrics.go),
// the status guard, which maps every failed call's error once and logs the
// detail of INTERNAL and BACKEND_UNAVAILABLE ones, panic recovery,
// authentication (auth.go) for everything but the health and reflection
// services, and forwarding (forward.go).
package server
