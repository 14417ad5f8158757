package watch

import "errors"

// Errors a subscription fails with. MongoDB's own errors pass through
// wrapped, with their codes.
var (
	// ErrBadToken: a resume token that was not issued for this Spec (or
	// not by mongogate at all).
	ErrBadToken = errors.New("watch: the resume token is not valid for this scope, pipeline and options")
	// ErrHistoryLost: the start position has left MongoDB's oplog
	// (MongoDB 286, ChangeStreamHistoryLost); it wraps MongoDB's error.
	ErrHistoryLost = errors.New("watch: change stream history lost")
	// ErrClosed: the hub is closed (the server is shutting down).
	ErrClosed = errors.New("watch: closed")
	// ErrSpec: a Spec or Start that cannot be watched.
	ErrSpec = errors.New("watch: invalid watch")
)

// SlowError is the end of a subscriber that fell more than the queue's
// length behind its stream.
type SlowError struct {
	// Token is the token of the last message the subscriber was given
	// ("" if none): resuming after it loses nothing.
	Token string
	// Queue is the queue's length.
	Queue int
}

func (e *SlowError) Error() string {
	return "watch: the subscriber fell too far behind its change stream and was cut"
}
