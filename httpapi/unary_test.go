package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/mongogate/mongogate/gateway"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/server"
)

// Connect unary calls are served in process (unary.go); these tests hold
// that path to what the transcoder into gRPC answers, and to the checks
// every protocol gets: authentication, forwarding, deadlines, tracing.

// connectCall posts body to a Connect unary path, gzip-compressed when
// compress is set, and returns the status and the body.
func (in *instance) connectCall(t *testing.T, method, body string, compress bool, header ...string) (int, []byte) {
	t.Helper()
	if compress {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		_, _ = z.Write([]byte(body))
		_ = z.Close()
		body = b.String()
		header = append(header, "Content-Encoding", "gzip")
	}
	return in.post(t, "/mongogate.v1."+method, body, header...)
}

// connectReason reads the code and ErrorInfo reason of a Connect error.
func connectReason(t *testing.T, body []byte) (code, reason string) {
	t.Helper()
	var ce struct {
		Code    string `json:"code"`
		Details []struct {
			Type  string `json:"type"`
			Debug struct {
				Reason string `json:"reason"`
			} `json:"debug"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &ce); err != nil {
		t.Fatalf("Connect error %s: %v", body, err)
	}
	for _, d := range ce.Details {
		if d.Type == "google.rpc.ErrorInfo" {
			return ce.Code, d.Debug.Reason
		}
	}
	t.Fatalf("Connect error %s has no ErrorInfo", body)
	return "", ""
}

// grpcWebCall posts body, as gRPC-Web JSON, to method (the transcoder's
// path into gRPC), and returns the answer as a Connect unary call would
// have it: the HTTP status, and the message or Connect's error JSON.
func (in *instance) grpcWebCall(t *testing.T, method, body string) (int, []byte) {
	t.Helper()
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body)))
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, in.base+"/mongogate.v1."+method, bytes.NewReader(append(frame, body...)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/grpc-web+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("gRPC-Web: HTTP %d %s (%v)", resp.StatusCode, b, err)
	}
	trailer := resp.Header
	var msg []byte
	for len(b) >= 5 {
		n := binary.BigEndian.Uint32(b[1:5])
		data := b[5 : 5+n]
		if b[0]&0x80 == 0 {
			msg = data
		} else {
			trailer = http.Header{}
			for _, line := range strings.Split(strings.TrimSpace(string(data)), "\r\n") {
				k, v, _ := strings.Cut(line, ":")
				trailer.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		b = b[5+n:]
	}
	code, err := strconv.Atoi(trailer.Get("Grpc-Status"))
	if err != nil {
		t.Fatalf("gRPC-Web answer without grpc-status: %v", trailer)
	}
	if code == 0 {
		return http.StatusOK, msg
	}
	details, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(trailer.Get("Grpc-Status-Details-Bin"), "="))
	if err != nil {
		t.Fatal(err)
	}
	var st spb.Status
	if err := proto.Unmarshal(details, &st); err != nil {
		t.Fatal(err)
	}
	type detail struct {
		Type  string          `json:"type"`
		Value string          `json:"value"`
		Debug json.RawMessage `json:"debug"`
	}
	ce := struct {
		Code    string   `json:"code"`
		Message string   `json:"message,omitempty"`
		Details []detail `json:"details,omitempty"`
	}{Code: connectCodes[codes.Code(code)], Message: st.GetMessage()}
	for _, a := range st.GetDetails() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		debug, _ := protojson.Marshal(m)
		ce.Details = append(ce.Details, detail{strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"), base64.RawStdEncoding.EncodeToString(a.GetValue()), debug})
	}
	out, _ := json.Marshal(ce)
	return connectHTTPStatus[codes.Code(code)], out
}

// The Connect protocol's names and HTTP statuses of the codes these tests
// meet.
var (
	connectCodes = map[codes.Code]string{codes.InvalidArgument: "invalid_argument", codes.NotFound: "not_found",
		codes.PermissionDenied: "permission_denied", codes.Unauthenticated: "unauthenticated"}
	connectHTTPStatus = map[codes.Code]int{codes.InvalidArgument: 400, codes.NotFound: 404, codes.PermissionDenied: 403, codes.Unauthenticated: 401}
)

// TestConnectUnaryMatchesTranscoder sends each call as a Connect unary
// call, served in process, and as gRPC-Web, which the transcoder turns
// into a gRPC call, and wants the same answer: the same message, or the
// same code, message and details.
func TestConnectUnaryMatchesTranscoder(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	if _, err := testbackend.Client(t, uri).Database(db).Collection("items").InsertOne(testCtx(t),
		bson.D{{Key: "_id", Value: 1}, {Key: "z", Value: int64(2)}, {Key: "a", Value: bson.D{{Key: "b", Value: 1.5}}}}); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf(`"namespace": {"database": %q, "collection": "items"}`, db)
	calls := []struct{ name, method, body string }{
		{"FindOne", "DocumentService/FindOne", `{` + ns + `, "filter": {"_id": 1}}`},
		{"FindOne relaxed", "DocumentService/FindOne", `{` + ns + `, "filter": {"_id": 1}, "responseFormat": "DOCUMENT_FORMAT_JSON_RELAXED"}`},
		{"FindOne of nothing", "DocumentService/FindOne", `{` + ns + `, "filter": {"_id": 2}}`},
		{"CountDocuments", "DocumentService/CountDocuments", `{` + ns + `, "filter": {}}`},
		{"Distinct", "DocumentService/Distinct", `{` + ns + `, "fieldName": "z", "filter": {}}`},
		{"unknown session", "SessionService/GetSession", `{"sessionToken": "mg-nobody.AAAAAAAAAAAAAAAAAAAAAA"}`},
		{"bad namespace", "DocumentService/FindOne", `{"namespace": {"database": "a.b", "collection": "c"}, "filter": {}}`},
		{"unknown field", "DocumentService/FindOne", `{` + ns + `, "filterz": {}}`},
		{"document as a string", "DocumentService/FindOne", `{` + ns + `, "filter": "{}"}`},
		{"malformed JSON", "DocumentService/FindOne", `{` + ns + `, "filter": {`},
		{"server-side JavaScript", "DocumentService/FindOne", `{` + ns + `, "filter": {"$where": "true"}}`},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			codeIn, bodyIn := in.connectCall(t, c.method, c.body, false)
			codeTr, bodyTr := in.grpcWebCall(t, c.method, c.body)
			var vIn, vTr any
			if err := json.Unmarshal(bodyIn, &vIn); err != nil {
				t.Fatalf("Connect: HTTP %d %s: %v", codeIn, bodyIn, err)
			}
			if err := json.Unmarshal(bodyTr, &vTr); err != nil {
				t.Fatalf("gRPC-Web: HTTP %d %s: %v", codeTr, bodyTr, err)
			}
			if codeIn != codeTr || !reflect.DeepEqual(vIn, vTr) {
				t.Fatalf("Connect, in process: HTTP %d %s\ngRPC-Web, transcoded: HTTP %d %s", codeIn, bodyIn, codeTr, bodyTr)
			}
		})
	}
}

// TestConnectUnaryProtocol follows the Connect protocol's headers: a
// gzip-compressed request (answered uncompressed), an encoding it does not
// know (INVALID_ARGUMENT, with its ErrorInfo), another protocol version, a
// malformed timeout.
func TestConnectUnaryProtocol(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	find := fmt.Sprintf(`{"namespace": {"database": %q, "collection": "items"}, "filter": {"_id": 2}}`, db)
	if code, body := in.connectCall(t, "DocumentService/FindOne", find, true); code != http.StatusOK || string(body) != "{}" {
		t.Fatalf("gzip-compressed FindOne of nothing: HTTP %d %q", code, body)
	}
	for _, tt := range []struct {
		name, header, value string
		wantHTTP            int
		wantCode            string
	}{
		{"unknown encoding", "Content-Encoding", "br", http.StatusBadRequest, "invalid_argument"},
		{"protocol version 2", "Connect-Protocol-Version", "2", http.StatusBadRequest, "invalid_argument"},
		{"malformed timeout", "Connect-Timeout-Ms", "soon", http.StatusBadRequest, "invalid_argument"},
	} {
		code, body := in.connectCall(t, "DocumentService/FindOne", find, false, tt.header, tt.value)
		if c, reason := connectReason(t, body); code != tt.wantHTTP || c != tt.wantCode || reason != "INVALID_ARGUMENT" {
			t.Errorf("%s: HTTP %d %s, want %d %s", tt.name, code, body, tt.wantHTTP, tt.wantCode)
		}
	}
}

// TestConnectUnaryAuthentication authenticates Connect unary calls by API
// key, and keeps a session to the principal that started it.
func TestConnectUnaryAuthentication(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice "+server.HashAPIKey("alice-key")+"\nbob "+server.HashAPIKey("bob-key")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := mustInstance(t, testbackend.URI(t), testbackend.DBName(t), func(c *gateway.Config) { c.APIKeysFile = keys })
	code, body := in.connectCall(t, "SessionService/StartSession", `{}`, false)
	if c, reason := connectReason(t, body); code != http.StatusUnauthorized || c != "unauthenticated" || reason != "UNAUTHENTICATED" {
		t.Fatalf("without a key: HTTP %d %s", code, body)
	}
	code, body = in.connectCall(t, "SessionService/StartSession", `{}`, false, "Authorization", "Bearer alice-key")
	var started struct {
		Session struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	if err := json.Unmarshal(body, &started); err != nil || code != http.StatusOK || started.Session.Token == "" {
		t.Fatalf("with alice's key: HTTP %d %s", code, body)
	}
	get := `{"sessionToken": "` + started.Session.Token + `"}`
	code, body = in.connectCall(t, "SessionService/GetSession", get, false, "Authorization", "Bearer bob-key")
	if c, reason := connectReason(t, body); code != http.StatusNotFound || c != "not_found" || reason != "SESSION_NOT_FOUND" {
		t.Fatalf("alice's session with bob's key: HTTP %d %s", code, body)
	}
	if code, body := in.connectCall(t, "SessionService/GetSession", get, false, "Authorization", "Bearer alice-key"); code != http.StatusOK {
		t.Fatalf("alice's session with alice's key: HTTP %d %s", code, body)
	}
}

// TestConnectUnaryForwarded forwards Connect unary calls on another
// instance's session to its owner.
func TestConnectUnaryForwarded(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	a := mustInstance(t, uri, db, nil)
	b := mustInstance(t, uri, db, nil)
	_, body := a.connectCall(t, "SessionService/StartSession", `{}`, false)
	var started struct {
		Session struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	if err := json.Unmarshal(body, &started); err != nil || started.Session.Token == "" {
		t.Fatalf("StartSession: %s", body)
	}
	tok := `"sessionToken": "` + started.Session.Token + `"`
	// b learns of a from the directory within a heartbeat or two.
	testkit.WaitFor(t, 10*time.Second, "b forwards to a", func() error {
		if code, body := b.connectCall(t, "SessionService/GetSession", `{`+tok+`}`, false); code != http.StatusOK {
			return fmt.Errorf("HTTP %d %s", code, body)
		}
		return nil
	})
	for _, c := range []struct{ method, body string }{
		{"TransactionService/StartTransaction", `{` + tok + `}`},
		{"DocumentService/InsertOne", `{` + tok + fmt.Sprintf(`, "namespace": {"database": %q, "collection": "fw"}, "document": {"_id": 1}`, db) + `}`},
		{"TransactionService/CommitTransaction", `{` + tok + `, "transactionNumber": "1"}`},
	} {
		if code, body := b.connectCall(t, c.method, c.body, false); code != http.StatusOK {
			t.Fatalf("%s through b: HTTP %d %s", c.method, code, body)
		}
	}
	if v, _ := promtest.Serve(t, b.inst.Metrics()).Value("mongogate_forwarded_calls_total"); v < 4 {
		t.Fatalf("b forwarded %v calls, want at least 4", v)
	}
	n, err := testbackend.Client(t, uri).Database(db).Collection("fw").CountDocuments(testCtx(t), bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("%d documents, %v", n, err)
	}
}

// TestConnectUnaryDeadline ends a call at its Connect-Timeout-Ms.
func TestConnectUnaryDeadline(t *testing.T) {
	if testbackend.External() {
		t.Skip("blocks the deployment's finds with a fail point")
	}
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	admin := testbackend.Client(t, uri).Database("admin")
	if err := admin.RunCommand(testCtx(t), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"find"}}, {Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 3000}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RunCommand(context.Background(), bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err()
	})
	began := time.Now()
	code, body := in.connectCall(t, "DocumentService/FindOne",
		fmt.Sprintf(`{"namespace": {"database": %q, "collection": "items"}, "filter": {}}`, db), false, "Connect-Timeout-Ms", "300")
	took := time.Since(began)
	if c, _ := connectReason(t, body); code != http.StatusGatewayTimeout || c != "deadline_exceeded" {
		t.Fatalf("HTTP %d %s, want deadline_exceeded", code, body)
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("the call took %v: the 300 ms deadline did not end it", took)
	}
}

// TestConnectUnaryTraced traces a Connect unary call as a server span,
// the child of the caller's span named in its traceparent header.
func TestConnectUnaryTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	in := mustInstance(t, testbackend.URI(t), testbackend.DBName(t), func(c *gateway.Config) { c.TracerProvider = tp })
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if code, body := in.connectCall(t, "SessionService/StartSession", `{}`, false,
		"Traceparent", "00-"+traceID+"-"+parentID+"-01"); code != http.StatusOK {
		t.Fatalf("StartSession: HTTP %d %s", code, body)
	}
	for _, sp := range rec.Ended() {
		if sp.Name() != "mongogate.v1.SessionService/StartSession" {
			continue
		}
		if sp.SpanKind() != trace.SpanKindServer || sp.SpanContext().TraceID().String() != traceID || sp.Parent().SpanID().String() != parentID {
			t.Fatalf("span %s: kind %v trace %s parent %s", sp.Name(), sp.SpanKind(), sp.SpanContext().TraceID(), sp.Parent().SpanID())
		}
		return
	}
	t.Fatalf("no server span of StartSession among %d spans", len(rec.Ended()))
}
