// Package mongotrace traces the MongoDB commands the driver sends as
// OpenTelemetry client spans, from the driver's command monitor. Each span
// is a child of the span in the operation's context (the gRPC call that
// caused it) and names the mongogate session it ran on by its redacted
// token and transaction number, never by the token itself.
package mongotrace

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mongogate/mongogate/sessions"
)

// Attribute keys of mongogate's own span attributes.
const (
	// AttrSession is the redacted token of the session the command ran on.
	AttrSession = attribute.Key("mongogate.session")
	// AttrTransaction is the session's transaction number (mongogate's,
	// as in the API, not the driver's txnNumber) when the command ran
	// inside a transaction.
	AttrTransaction = attribute.Key("mongogate.transaction_number")
)

// instrumentation names the tracer, as OpenTelemetry asks instrumentation
// libraries to.
const instrumentation = "github.com/mongogate/mongogate/internal/mongotrace"

type spanKey struct {
	conn string
	id   int64
}

// Monitor returns a command monitor that traces every command with tp.
// Set it with options.Client().SetMonitor.
func Monitor(tp trace.TracerProvider) *event.CommandMonitor {
	t := &tracer{tracer: tp.Tracer(instrumentation)}
	return &event.CommandMonitor{Started: t.started, Succeeded: t.succeeded, Failed: t.failed}
}

type tracer struct {
	tracer trace.Tracer
	spans  sync.Map // spanKey -> trace.Span
}

func (t *tracer) started(ctx context.Context, ev *event.CommandStartedEvent) {
	coll := collection(ev)
	name := ev.CommandName
	if coll != "" {
		name += " " + coll
	}
	attrs := []attribute.KeyValue{
		attribute.String("db.system.name", "mongodb"),
		attribute.String("db.namespace", ev.DatabaseName),
		attribute.String("db.operation.name", ev.CommandName),
	}
	if coll != "" {
		attrs = append(attrs, attribute.String("db.collection.name", coll))
	}
	if host, port, ok := hostPort(ev.ConnectionID); ok {
		attrs = append(attrs, attribute.String("server.address", host))
		if port != 0 {
			attrs = append(attrs, attribute.Int("server.port", port))
		}
	}
	if e := sessions.FromContext(ctx); e != nil {
		attrs = append(attrs, AttrSession.String(e.Redacted()))
		if t := e.Txn; t != nil {
			if _, open := t.OpenSince(); open || isTxnCommand(ev.CommandName) {
				attrs = append(attrs, AttrTransaction.Int64(t.Number()))
			}
		}
	}
	_, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	t.spans.Store(spanKey{ev.ConnectionID, ev.RequestID}, span)
}

func (t *tracer) succeeded(_ context.Context, ev *event.CommandSucceededEvent) {
	if v, ok := t.spans.LoadAndDelete(spanKey{ev.ConnectionID, ev.RequestID}); ok {
		v.(trace.Span).End()
	}
}

func (t *tracer) failed(_ context.Context, ev *event.CommandFailedEvent) {
	v, ok := t.spans.LoadAndDelete(spanKey{ev.ConnectionID, ev.RequestID})
	if !ok {
		return
	}
	span := v.(trace.Span)
	if code, ok := errorCode(ev.Failure); ok {
		span.SetAttributes(attribute.String("db.response.status_code", strconv.Itoa(int(code))))
	}
	span.SetStatus(codes.Error, ev.CommandName+" failed")
	span.End()
}

// isTxnCommand reports whether a command ends a transaction: it runs when
// the state is no longer in progress only for the commit retried after an
// unknown outcome.
func isTxnCommand(name string) bool {
	return name == "commitTransaction" || name == "abortTransaction"
}

// collection is the collection a command names as its first element's
// value (insert: "items"), when that is a string.
func collection(ev *event.CommandStartedEvent) string {
	elems, err := ev.Command.Elements()
	if err != nil || len(elems) == 0 {
		return ""
	}
	if s, ok := elems[0].Value().StringValueOK(); ok {
		return s
	}
	return ""
}

// hostPort splits the driver's connection id, "host:port[-n]", into the
// server's address.
func hostPort(connID string) (host string, port int, ok bool) {
	addr := connID
	if i := strings.LastIndex(addr, "[-"); i >= 0 {
		addr = addr[:i]
	}
	i := strings.LastIndexByte(addr, ':')
	if i <= 0 {
		return "", 0, false
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		return addr, 0, true
	}
	return addr[:i], port, true
}

// errorCode is the MongoDB error code of a failed command, if it has one.
func errorCode(err error) (int32, bool) {
	var de driver.Error
	if errors.As(err, &de) && de.Code != 0 {
		return de.Code, true
	}
	return 0, false
}
