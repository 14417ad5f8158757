package mongogate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/mongogate/mongogate/clients/go/options"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// Resuming after a retryable error: the first retry waits resumeBackoff
// (or the server's RetryInfo), each next one twice as long up to
// maxResumeBackoff, and after maxResumeAttempts failures in a row without
// a message in between the ChangeStream gives up with the last error.
const (
	resumeBackoff     = 50 * time.Millisecond
	maxResumeBackoff  = 2 * time.Second
	maxResumeAttempts = 20
)

// ChangeStream iterates over the change events of a Watch, as the
// driver's mongo.ChangeStream does. It resumes by itself, from its last
// resume token, when the stream breaks in a way a retry mends: the server
// instance stopped or crashed (the client reconnects through its target,
// so to another instance behind a load balancer), MongoDB was briefly
// unreachable, or the server cut a reader that fell too far behind
// (ErrWatchTooSlow). Delivery is at least once: events after the last
// token come again when a program resumes from an older one it saved, and
// the token (ResumeToken right after Next) is the key to recognise them.
//
// It is not safe for concurrent use. Close it when done.
//
//	cs, err := coll.Watch(ctx, mongo.Pipeline{})
//	if err != nil { ... }
//	defer cs.Close(ctx)
//	for cs.Next(ctx) {
//		var ev struct{ OperationType string `bson:"operationType"` }
//		if err := cs.Decode(&ev); err != nil { ... }
//		save(cs.ResumeToken()) // to resume from after a restart
//	}
//	if err := cs.Err(); err != nil { ... }
type ChangeStream struct {
	// Current is the event Next moved to, as MongoDB reports it. It is
	// only valid until the next call to Next: copy it to keep it.
	Current bson.Raw

	client  *Client
	base    context.Context // values of the Watch call's context, without its end
	req     *pb.WatchRequest
	stream  pb.WatchService_WatchClient
	cancel  *streamCancel     // of the current RPC
	pending *pb.WatchResponse // the first message, received by Watch
	token   string
	resumes int
	invalid bool // the last event was an invalidate
	done    bool
	err     error
}

// Watch returns a ChangeStream over the changes of the collection, after
// the stages of pipeline (a slice of stage documents: $match, $project,
// ...). It returns once the server has opened the stream, or with its
// refusal: ErrNamespaceForbidden, ErrInvalidArgument (a token of another
// watch), ErrChangeStreamHistoryLost. ctx bounds only the opening; the
// stream lives until Close, and each Next takes a context of its own.
func (c *Collection) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (*ChangeStream, error) {
	req := &pb.WatchRequest{Client: c.db.backend, Scope: &pb.WatchRequest_Collection{Collection: c.ns()}}
	return c.db.client.watch(ctx, req, pipeline, opts)
}

// Watch returns a ChangeStream over the changes of every collection of the
// database, as Collection.Watch does.
func (d *Database) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (*ChangeStream, error) {
	req := &pb.WatchRequest{Client: d.backend, Scope: &pb.WatchRequest_Database{Database: d.name}}
	return d.client.watch(ctx, req, pipeline, opts)
}

// Watch returns a ChangeStream over the changes of every database of the
// deployment (options.ChangeStreamOptions.Backend chooses which; default
// "default"), as Collection.Watch does.
func (c *Client) Watch(ctx context.Context, pipeline any, opts ...*options.ChangeStreamOptions) (*ChangeStream, error) {
	req := &pb.WatchRequest{Scope: &pb.WatchRequest_Deployment_{Deployment: &pb.WatchRequest_Deployment{}}}
	if b := merge(opts).Backend; b != nil {
		req.Client = *b
	}
	return c.watch(ctx, req, pipeline, opts)
}

func (c *Client) watch(ctx context.Context, req *pb.WatchRequest, pipeline any, opts []*options.ChangeStreamOptions) (*ChangeStream, error) {
	if c.closed.Load() {
		return nil, ErrClientClosed
	}
	if pipeline != nil {
		stages, err := pipelineOf("pipeline", pipeline)
		if err != nil {
			return nil, err
		}
		req.Pipeline = stages
	}
	o := merge(opts)
	req.ResponseFormat = responseFormat
	req.Options = &pb.WatchOptions{ShowExpandedEvents: deref(o.ShowExpandedEvents)}
	var err error
	if req.Options.FullDocument, err = fullDocumentOf(o.FullDocument); err != nil {
		return nil, err
	}
	if req.Options.FullDocumentBeforeChange, err = beforeChangeOf(o.FullDocumentBeforeChange); err != nil {
		return nil, err
	}
	req.MaxAwaitTime = durationOf(o.MaxAwaitTime)
	starts := 0
	if o.ResumeAfter != nil {
		req.Start = &pb.WatchRequest_ResumeAfter{ResumeAfter: *o.ResumeAfter}
		starts++
	}
	if o.StartAfter != nil {
		req.Start = &pb.WatchRequest_StartAfter{StartAfter: *o.StartAfter}
		starts++
	}
	if t := o.StartAtOperationTime; t != nil {
		req.Start = &pb.WatchRequest_StartAtOperationTime{StartAtOperationTime: &pb.OperationTime{Seconds: t.T, Increment: t.I}}
		starts++
	}
	if starts > 1 {
		return nil, errors.New("mongogate: set at most one of ResumeAfter, StartAfter and StartAtOperationTime")
	}
	cs := &ChangeStream{client: c, base: context.WithoutCancel(ctx), req: req, cancel: &streamCancel{}}
	// A ChangeStream dropped without Close would keep its stream.
	runtime.AddCleanup(cs, (*streamCancel).run, cs.cancel)
	if err := cs.open(ctx); err != nil {
		return nil, err
	}
	return cs, nil
}

func fullDocumentOf(f *options.FullDocument) (pb.FullDocument, error) {
	if f == nil {
		return pb.FullDocument_FULL_DOCUMENT_UNSPECIFIED, nil
	}
	switch *f {
	case options.Default:
		return pb.FullDocument_FULL_DOCUMENT_DEFAULT, nil
	case options.UpdateLookup:
		return pb.FullDocument_FULL_DOCUMENT_UPDATE_LOOKUP, nil
	case options.WhenAvailable:
		return pb.FullDocument_FULL_DOCUMENT_WHEN_AVAILABLE, nil
	case options.Required:
		return pb.FullDocument_FULL_DOCUMENT_REQUIRED, nil
	}
	return 0, fmt.Errorf("mongogate: FullDocument %q is not one of default, updateLookup, whenAvailable, required", *f)
}

func beforeChangeOf(f *options.FullDocument) (pb.FullDocumentBeforeChange, error) {
	if f == nil {
		return pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_UNSPECIFIED, nil
	}
	switch *f {
	case options.Off:
		return pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_OFF, nil
	case options.WhenAvailable:
		return pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_WHEN_AVAILABLE, nil
	case options.Required:
		return pb.FullDocumentBeforeChange_FULL_DOCUMENT_BEFORE_CHANGE_REQUIRED, nil
	}
	return 0, fmt.Errorf("mongogate: FullDocumentBeforeChange %q is not one of off, whenAvailable, required", *f)
}

// open calls Watch, from the last token once there is one, and receives
// the first message (the server sends one as soon as the stream is open),
// so that a refusal is open's error. ctx bounds the wait.
func (cs *ChangeStream) open(ctx context.Context) error {
	req := cs.req
	if cs.token != "" {
		req = proto.CloneOf(cs.req)
		req.Start = &pb.WatchRequest_ResumeAfter{ResumeAfter: cs.token}
	}
	sctx, cancel := context.WithCancel(cs.base)
	stream, err := pb.NewWatchServiceClient(cs.client.conn).Watch(sctx, req)
	if err != nil {
		cancel()
		return fromStatus(err)
	}
	stop := context.AfterFunc(ctx, cancel)
	first, err := stream.Recv()
	stop()
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return contextError(ctx)
		}
		if errors.Is(err, io.EOF) {
			return errors.New("mongogate: the server ended the change stream before it began")
		}
		return fromStatus(err)
	}
	cs.stream, cs.cancel.f, cs.pending = stream, cancel, first
	return nil
}

// streamCancel ends the current RPC; it lives apart from the ChangeStream
// so that the cleanup of a ChangeStream dropped without Close can call it.
type streamCancel struct{ f context.CancelFunc }

func (c *streamCancel) run() {
	if c.f != nil {
		c.f()
	}
}

// drop ends the current RPC, if any.
func (cs *ChangeStream) drop() {
	cs.cancel.run()
	cs.stream, cs.pending = nil, nil
}

// Next moves to the next change event, waiting for it as long as ctx
// allows and resuming the stream as the type's comment says. It returns
// false when the stream ended (after an invalidate event, or Close), on an
// error that resuming does not mend (see Err), or when ctx ends: then Err
// is ctx's error, and a later Next resumes from the last token.
func (cs *ChangeStream) Next(ctx context.Context) bool { return cs.next(ctx, false) }

// TryNext is Next that also returns false when the server reports that
// nothing changed (a heartbeat, at most MaxAwaitTime after the last
// message), with Err nil; ResumeToken has moved on then.
func (cs *ChangeStream) TryNext(ctx context.Context) bool { return cs.next(ctx, true) }

func (cs *ChangeStream) next(ctx context.Context, try bool) bool {
	if cs.done {
		return false
	}
	if cs.err != nil {
		if !errors.Is(cs.err, context.Canceled) && !errors.Is(cs.err, context.DeadlineExceeded) {
			return false
		}
		cs.err = nil
	}
	failures := 0
	var last error
	for {
		if ctx.Err() != nil {
			cs.drop()
			cs.err = contextError(ctx)
			return false
		}
		if cs.stream == nil {
			if failures > 0 {
				if !sleepCtx(ctx, backoff(failures, last)) {
					cs.err = contextError(ctx)
					return false
				}
			}
			if err := cs.open(ctx); err != nil {
				if ctx.Err() != nil {
					cs.err = contextError(ctx)
					return false
				}
				failures++
				if !resumable(err) || failures >= maxResumeAttempts {
					cs.err = err
					return false
				}
				last = err
				continue
			}
			if cs.token != "" {
				cs.resumes++
			}
		}
		resp, err := cs.recv(ctx)
		if err != nil {
			invalidated := cs.invalid && errors.Is(err, io.EOF)
			cs.drop()
			switch {
			case invalidated:
				cs.done = true
				return false
			case ctx.Err() != nil:
				cs.err = contextError(ctx)
				return false
			}
			if !errors.Is(err, io.EOF) {
				err = fromStatus(err)
				if !resumable(err) {
					cs.err = err
					return false
				}
			}
			failures++
			if failures >= maxResumeAttempts {
				cs.err = err
				return false
			}
			last = err
			continue
		}
		failures = 0
		cs.token = resp.GetResumeToken()
		if resp.GetEvent() == nil {
			if try {
				return false
			}
			continue
		}
		raw, err := rawOf(resp.GetEvent())
		if err != nil {
			cs.drop()
			cs.err = err
			return false
		}
		cs.Current = raw
		cs.invalid = resp.GetOperationType() == "invalidate"
		return true
	}
}

// recv returns the message open received, else the next one.
func (cs *ChangeStream) recv(ctx context.Context) (*pb.WatchResponse, error) {
	if p := cs.pending; p != nil {
		cs.pending = nil
		return p, nil
	}
	stop := context.AfterFunc(ctx, cs.cancel.run)
	defer stop()
	return cs.stream.Recv()
}

// resumable: the errors after which the stream resumes by itself.
func resumable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Reason {
	case pb.ErrorReason_ERROR_REASON_WATCH_TOO_SLOW.Wire(), pb.ErrorReason_ERROR_REASON_BACKEND_UNAVAILABLE.Wire(),
		pb.ErrorReason_ERROR_REASON_SHUTTING_DOWN.Wire():
		return true
	case "":
		// gRPC's own statuses: the instance or a proxy went away.
		return e.Code == codes.Unavailable || e.Code == codes.Internal || e.Code == codes.Unknown
	}
	return false
}

func backoff(failures int, last error) time.Duration {
	var e *Error
	if errors.As(last, &e) && e.RetryDelay > 0 {
		return min(e.RetryDelay, maxResumeBackoff)
	}
	d := resumeBackoff << min(failures-1, 10)
	return min(d, maxResumeBackoff)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Decode unmarshals Current into v with bson.Unmarshal.
func (cs *ChangeStream) Decode(v any) error {
	if cs.Current == nil {
		return errors.New("mongogate: Decode before Next")
	}
	return bson.Unmarshal(cs.Current, v)
}

// ResumeToken is the token to resume after the last message: the
// current event's, or after a heartbeat the position the stream has read
// up to. Pass it to options.ChangeStreamOptions.SetResumeAfter, on any
// instance, to continue from there. It is a secret (whoever holds it
// reads the events after it); "" before the first message.
func (cs *ChangeStream) ResumeToken() string { return cs.token }

// Resumes is how many times the stream was resumed from its token.
func (cs *ChangeStream) Resumes() int { return cs.resumes }

// Err is the error that ended the iteration, if any.
func (cs *ChangeStream) Err() error { return cs.err }

// Close ends the stream. It is idempotent and returns nil; its signature
// matches the driver's.
func (cs *ChangeStream) Close(context.Context) error {
	cs.done = true
	cs.drop()
	return nil
}
