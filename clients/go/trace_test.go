package mongogate_test

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/internal/mongotrace"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// TestTraceOfTransaction follows one transaction in a single trace: the
// client's spans, the server's span of each call as their child, and the
// span of each MongoDB command as the child of the call that sent it,
// naming the session by its redacted token and transaction number.
func TestTraceOfTransaction(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	g := mustGate(t, gateConfig{tracer: tp})
	c := mustClient(t, g, mongogate.WithTracerProvider(tp))
	items := c.Database(testbackend.DBName(t)).Collection("items")

	ctx, root := tp.Tracer("test").Start(testCtx(t), "transfer")
	s, err := c.StartSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.End(context.Background()) }()
	if err := s.StartTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := items.InsertOne(mongogate.NewSessionContext(ctx, s), bson.D{{Key: "_id", Value: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	root.End()
	token := mongogate.Token(s)

	spans := rec.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byID[sp.SpanContext().SpanID()] = sp
		for _, a := range sp.Attributes() {
			if strings.Contains(a.Value.Emit(), token[strings.IndexByte(token, '.')+1:]) {
				t.Errorf("span %q attribute %s carries the session token", sp.Name(), a.Key)
			}
		}
	}
	// kind/name of the parent chain of a span, from the span up.
	chain := func(sp sdktrace.ReadOnlySpan) []string {
		var out []string
		for sp != nil {
			out = append(out, sp.SpanKind().String()+" "+sp.Name())
			sp = byID[sp.Parent().SpanID()]
		}
		return out
	}
	want := map[string][]string{
		"insert items": {"client insert items", "server mongogate.v1.DocumentService/InsertOne",
			"client mongogate.v1.DocumentService/InsertOne", "internal transfer"},
		"commitTransaction": {"client commitTransaction", "server mongogate.v1.TransactionService/CommitTransaction",
			"client mongogate.v1.TransactionService/CommitTransaction", "internal transfer"},
	}
	seen := map[string]int{}
	for _, sp := range spans {
		if sp.SpanContext().TraceID() != root.SpanContext().TraceID() {
			if strings.HasPrefix(sp.Name(), "mongogate.v1.") {
				t.Errorf("span %q is not in the transaction's trace", sp.Name())
			}
			continue
		}
		w, ok := want[sp.Name()]
		if !ok {
			continue
		}
		seen[sp.Name()]++
		if got := chain(sp); strings.Join(got, " < ") != strings.Join(w, " < ") {
			t.Errorf("span %q: parents %q, want %q", sp.Name(), got, w)
		}
		attrs := map[string]string{}
		for _, a := range sp.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs[string(mongotrace.AttrSession)] != s.ID() || attrs[string(mongotrace.AttrTransaction)] != "1" {
			t.Errorf("span %q: session %q, transaction %q; want %q, 1", sp.Name(),
				attrs[string(mongotrace.AttrSession)], attrs[string(mongotrace.AttrTransaction)], s.ID())
		}
		if attrs["db.system.name"] != "mongodb" {
			t.Errorf("span %q: db.system.name %q", sp.Name(), attrs["db.system.name"])
		}
	}
	if seen["insert items"] != 2 || seen["commitTransaction"] != 1 {
		t.Errorf("command spans in the trace: %v, want 2 inserts and 1 commitTransaction", seen)
	}
}
