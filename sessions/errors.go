package sessions

import "errors"

// Errors the registry returns; server/ maps each to a gRPC code and reason.
var (
	// ErrNotFound: the token is unknown, ended, or owned by another
	// principal (indistinguishable on purpose, so tokens cannot be probed).
	ErrNotFound = errors.New("sessions: session not found")
	// ErrExpired: the session expired (idle or absolute lifetime); its
	// tombstone is still kept.
	ErrExpired = errors.New("sessions: session expired")
	// ErrLimit: the total or per-principal session limit is reached.
	ErrLimit = errors.New("sessions: session limit reached")
	// ErrClosed: the registry is shutting down.
	ErrClosed = errors.New("sessions: registry closed")
	// ErrOwnerGone: the token names an instance that is gone (stopped,
	// or declared dead by its peers and reclaimed): the session went with
	// it, and its open transaction never commits.
	ErrOwnerGone = errors.New("sessions: the instance holding the session is gone")
	// ErrOwnerUnreachable: the token names another instance that cannot
	// be reached now and has not been declared gone; it may still be
	// serving the session, so the answer is to retry.
	ErrOwnerUnreachable = errors.New("sessions: the instance holding the session cannot be reached")
)
