package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.mongodb.org/mongo-driver/v2/bson"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/httpapi"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
	"github.com/mongogate/mongogate/server"
)

// instance is a gateway serving on a loopback port, with the base URL of
// its HTTP protocols.
type instance struct {
	inst *gateway.Instance
	addr string
	base string
}

// mustInstance serves a gateway on 127.0.0.1 against the test backend,
// with its own directory and outcome collections in db.
func mustInstance(t testing.TB, uri, db string, configure func(*gateway.Config)) *instance {
	t.Helper()
	cfg := gateway.Config{
		Backends:            []gateway.BackendConfig{gateway.DefaultBackend(backend.Default, uri)},
		DirectoryCollection: db + ".instances",
		OutcomeCollection:   db + ".outcomes",
		HeartbeatInterval:   200 * time.Millisecond,
	}
	if configure != nil {
		configure(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inst, err := gateway.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- inst.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = inst.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-inst.Ready():
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	}
	addr := ln.Addr().String()
	return &instance{inst: inst, addr: addr, base: "http://" + addr}
}

// post sends body as JSON to path and returns the status and the body.
func (in *instance) post(t *testing.T, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// mustPost is post expecting 200, decoding the answer into out.
func (in *instance) mustPost(t *testing.T, path, body string, out any) {
	t.Helper()
	code, b := in.post(t, path, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %s", path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %s: %v", path, b, err)
		}
	}
}

// restReason reads the ErrorInfo reason of a REST error body
// (google.rpc.Status as JSON).
func restReason(t *testing.T, body []byte) (code int, reason string) {
	t.Helper()
	var st struct {
		Code    int `json:"code"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
			Domain string `json:"domain"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	for _, d := range st.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" && d.Domain == testkit.ErrorDomain {
			return st.Code, d.Reason
		}
	}
	t.Fatalf("error body %s has no ErrorInfo", body)
	return 0, ""
}

func nsPath(db, coll, verb string) string {
	return "/v1/databases/" + db + "/collections/" + coll + ":" + verb
}

type documents struct {
	Documents []map[string]any `json:"documents"`
}

// TestRESTTransaction runs a transaction of several REST calls: its
// write is invisible outside it until the commit.
func TestRESTTransaction(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	var started struct {
		Session struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	in.mustPost(t, "/v1/sessions", `{}`, &started)
	token := started.Session.Token
	withToken := func(rest string) string { return `{"sessionToken": "` + token + `"` + rest + `}` }
	var txn struct {
		TransactionNumber string `json:"transactionNumber"`
	}
	in.mustPost(t, "/v1/sessions:startTransaction", withToken(""), &txn)
	if txn.TransactionNumber != "1" {
		t.Fatalf("transactionNumber %q: int64 must be a JSON string", txn.TransactionNumber)
	}
	in.mustPost(t, nsPath(db, "items", "insertOne"),
		withToken(`, "document": {"_id": {"$oid": "65f1c0de2b7e4a1d9c3b8a01"}, "n": {"$numberLong": "1"}}`), nil)
	var outside, inside, after documents
	in.mustPost(t, nsPath(db, "items", "find"), `{}`, &outside)
	in.mustPost(t, nsPath(db, "items", "find"), withToken(""), &inside)
	if len(outside.Documents) != 0 || len(inside.Documents) != 1 {
		t.Fatalf("before commit: %d documents outside, %d inside the transaction; want 0 and 1", len(outside.Documents), len(inside.Documents))
	}
	in.mustPost(t, "/v1/sessions:commitTransaction", withToken(""), nil)
	in.mustPost(t, nsPath(db, "items", "find"), `{}`, &after)
	if len(after.Documents) != 1 {
		t.Fatalf("after commit: %d documents", len(after.Documents))
	}
	n, _ := json.Marshal(after.Documents[0]["n"])
	if string(n) != `{"$numberLong":"1"}` {
		t.Fatalf("n read back as %s: the int64 lost its type", n)
	}
	in.mustPost(t, "/v1/sessions:end", withToken(""), nil)
	code, body := in.post(t, "/v1/sessions:get", withToken(""))
	if c, reason := restReason(t, body); code != http.StatusNotFound || c != int(codes.NotFound) || reason != "SESSION_NOT_FOUND" {
		t.Fatalf("GetSession after EndSession: HTTP %d code %d reason %s", code, c, reason)
	}
}

// TestConnectProtocols calls the same services over Connect (binary and
// JSON, unary and server streaming) and gRPC-Web, each over HTTP/1.1 and
// over HTTP/2 without TLS (h2c), and native gRPC, on one address.
func TestConnectProtocols(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	ctx := testCtx(t)
	ns := &pb.Namespace{Database: db, Collection: "c"}
	var docs []*pb.Document
	for i := range 5 {
		docs = append(docs, &pb.Document{Value: &pb.Document_Json{Json: fmt.Sprintf(`{"_id": %d}`, i)}})
	}
	// Native gRPC on the same port.
	stubs := testkit.NewStubs(testkit.Dial(t, in.addr))
	if _, err := stubs.Docs.InsertMany(ctx, &pb.InsertManyRequest{Namespace: ns, Documents: docs}); err != nil {
		t.Fatalf("native gRPC InsertMany: %v", err)
	}
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	for _, hp := range []struct {
		name      string
		protocols *http.Protocols
		major     int
	}{{"HTTP/1.1", nil, 1}, {"h2c", h2c, 2}} {
		for _, p := range []struct {
			name string
			opts []connect.ClientOption
		}{
			{"connect binary", nil},
			{"connect JSON", []connect.ClientOption{connect.WithProtoJSON()}},
			{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
			{"grpc-web JSON", []connect.ClientOption{connect.WithGRPCWeb(), connect.WithProtoJSON()}},
		} {
			t.Run(hp.name+" "+p.name, func(t *testing.T) {
				rec := &protoRecorder{rt: &http.Transport{Protocols: hp.protocols}}
				client := &http.Client{Transport: rec}
				callProtocol(t, ctx, in, ns, client, p.opts)
				if rec.major != hp.major {
					t.Fatalf("answered over HTTP/%d, want HTTP/%d", rec.major, hp.major)
				}
			})
		}
	}
	_, err := stubs.Sessions.GetSession(ctx, &pb.GetSessionRequest{SessionToken: in.inst.ID() + ".nosuchsession"})
	testkit.WantReason(t, "native gRPC GetSession", err, codes.NotFound, pb.ErrorReason_ERROR_REASON_SESSION_NOT_FOUND)
}

// protoRecorder is a RoundTripper that keeps the HTTP major version of
// the last answer.
type protoRecorder struct {
	rt    http.RoundTripper
	major int
}

func (r *protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.rt.RoundTrip(req)
	if err == nil {
		r.major = resp.ProtoMajor
	}
	return resp, err
}

// callProtocol runs CountDocuments, a streamed Find and a failing
// GetSession on the five documents of ns with a Connect client.
func callProtocol(t *testing.T, ctx context.Context, in *instance, ns *pb.Namespace, client *http.Client, opts []connect.ClientOption) {
	t.Helper()
	count := connect.NewClient[pb.CountDocumentsRequest, pb.CountDocumentsResponse](client,
		in.base+"/mongogate.v1.DocumentService/CountDocuments", opts...)
	resp, err := count.CallUnary(ctx, connect.NewRequest(&pb.CountDocumentsRequest{Namespace: ns}))
	if err != nil || resp.Msg.GetCount() != 5 {
		t.Fatalf("CountDocuments: %v, %v", resp, err)
	}
	find := connect.NewClient[pb.FindRequest, pb.FindResponse](client,
		in.base+"/mongogate.v1.DocumentService/Find", opts...)
	stream, err := find.CallServerStream(ctx, connect.NewRequest(&pb.FindRequest{
		Namespace: ns, Options: &pb.FindOptions{BatchSize: 2},
	}))
	if err != nil {
		t.Fatal(err)
	}
	batches, n := 0, 0
	for stream.Receive() {
		batches++
		n += len(stream.Msg().GetDocuments())
	}
	if err := stream.Err(); err != nil || n != 5 || batches != 3 {
		t.Fatalf("Find: %d documents in %d batches, %v; want 5 in 3", n, batches, err)
	}
	// An error carries the same ErrorInfo as over gRPC.
	get := connect.NewClient[pb.GetSessionRequest, pb.GetSessionResponse](client,
		in.base+"/mongogate.v1.SessionService/GetSession", opts...)
	_, err = get.CallUnary(ctx, connect.NewRequest(&pb.GetSessionRequest{SessionToken: in.inst.ID() + ".nosuchsession"}))
	wantConnectReason(t, err, connect.CodeNotFound, "SESSION_NOT_FOUND")
}

func wantConnectReason(t *testing.T, err error, code connect.Code, reason string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("error %v, want code %v", err, code)
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if info, ok := v.(*errdetails.ErrorInfo); derr == nil && ok && info.GetDomain() == testkit.ErrorDomain {
			if info.GetReason() != reason {
				t.Fatalf("reason %s, want %s", info.GetReason(), reason)
			}
			return
		}
	}
	t.Fatalf("error %v has no ErrorInfo", err)
}

// TestBadInput refuses what no protocol accepts with a clear 4xx and the
// error body, and writes nothing.
func TestBadInput(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	coll := testbackend.Client(t, uri).Database(db).Collection("bad")
	insert := nsPath(db, "bad", "insertOne")
	connectInsert := "/mongogate.v1.DocumentService/InsertOne"
	big := `{"document": {"pad": "` + strings.Repeat("x", int(httpapi.DefaultMaxBodyBytes)) + `"}}`
	tests := []struct {
		name, method, path, contentType, body string
		wantHTTP                              int
	}{
		{"malformed JSON (REST)", "POST", insert, "application/json", `{"document": {"a": 1}`, 400},
		{"malformed JSON (Connect)", "POST", connectInsert, "application/json", `{"namespace": {"database": "` + db + `", "collection": "bad"}, "document": {"a": `, 400},
		{"unknown field", "POST", insert, "application/json", `{"document": {"a": 1}, "documentz": {}}`, 400},
		{"document as a string", "POST", insert, "application/json", `{"document": "{\"a\": 1}"}`, 400},
		{"wrong content type", "POST", insert, "text/plain", `{"document": {"a": 1}}`, 415},
		{"body over the limit", "POST", insert, "application/json", big, 413},
		{"wrong method", "GET", insert, "application/json", ``, 405},
		{"wrong method (Connect)", "PUT", connectInsert, "application/json", `{}`, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, in.base+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tt.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantHTTP {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, body, tt.wantHTTP)
			}
			if strings.HasPrefix(tt.path, "/v1/") {
				if _, reason := restReason(t, body); reason != "INVALID_ARGUMENT" {
					t.Fatalf("reason %s", reason)
				}
			} else {
				var ce struct {
					Code    string `json:"code"`
					Details []struct {
						Debug struct {
							Reason string `json:"reason"`
						} `json:"debug"`
					} `json:"details"`
				}
				if err := json.Unmarshal(body, &ce); err != nil || ce.Code != "invalid_argument" || len(ce.Details) == 0 || ce.Details[0].Debug.Reason != "INVALID_ARGUMENT" {
					t.Fatalf("Connect error body %s", body)
				}
			}
			if n, err := coll.CountDocuments(context.Background(), bson.D{}); err != nil || n != 0 {
				t.Fatalf("collection holds %d documents (%v) after a refused request", n, err)
			}
		})
	}
}

// TestRESTFindBounds answers a REST Find in one JSON array up to its
// bound, and RESULT_TOO_LARGE beyond.
func TestRESTFindBounds(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	in := mustInstance(t, uri, db, nil)
	coll := testbackend.Client(t, uri).Database(db).Collection("many")
	insert := func(from, to int) {
		var docs []any
		for i := from; i < to; i++ {
			docs = append(docs, bson.D{{Key: "_id", Value: i}})
		}
		if _, err := coll.InsertMany(context.Background(), docs); err != nil {
			t.Fatal(err)
		}
	}
	insert(0, 500)
	var got documents
	in.mustPost(t, nsPath(db, "many", "find"), `{"options": {"sort": {"_id": 1}}}`, &got)
	if len(got.Documents) != 500 {
		t.Fatalf("%d documents, want 500", len(got.Documents))
	}
	var agg documents
	in.mustPost(t, nsPath(db, "many", "aggregate"), `{"pipeline": [{"$match": {"_id": {"$lt": 10}}}, {"$sort": {"_id": -1}}]}`, &agg)
	if len(agg.Documents) != 10 {
		t.Fatalf("aggregate: %d documents, want 10", len(agg.Documents))
	}
	insert(500, 10_001)
	code, body := in.post(t, nsPath(db, "many", "find"), `{}`)
	if c, reason := restReason(t, body); code != http.StatusTooManyRequests || c != int(codes.ResourceExhausted) || reason != "RESULT_TOO_LARGE" {
		t.Fatalf("find of 10,001 documents: HTTP %d code %d reason %s", code, c, reason)
	}
	in.mustPost(t, nsPath(db, "many", "find"), `{"options": {"limit": "10000"}}`, &got)
	if len(got.Documents) != 10_000 {
		t.Fatalf("find with limit 10000: %d documents", len(got.Documents))
	}
}

// TestCORS lets pages of allowed origins call, and no others.
func TestCORS(t *testing.T) {
	uri := testbackend.URI(t)
	in := mustInstance(t, uri, testbackend.DBName(t), func(c *gateway.Config) {
		c.AllowedOrigins = []string{"http://app.test"}
	})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, in.base+"/mongogate.v1.SessionService/StartSession", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,connect-protocol-version,authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("http://app.test")
	if ok.StatusCode != http.StatusNoContent || ok.Header.Get("Access-Control-Allow-Origin") != "http://app.test" ||
		!strings.Contains(ok.Header.Get("Access-Control-Allow-Headers"), "Connect-Protocol-Version") {
		t.Fatalf("allowed preflight: %d %v", ok.StatusCode, ok.Header)
	}
	if denied := preflight("http://evil.test"); denied.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin allowed: %v", denied.Header)
	}
	code, _ := in.post(t, "/v1/sessions", `{}`, "Origin", "http://app.test")
	if code != http.StatusOK {
		t.Fatalf("StartSession from an allowed origin: HTTP %d", code)
	}
	req, _ := http.NewRequest(http.MethodPost, in.base+"/v1/sessions", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://app.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.test" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Grpc-Status") {
		t.Fatalf("response headers %v", resp.Header)
	}
}

// TestHTTPAuthentication takes API keys as Authorization: Bearer on every
// protocol.
func TestHTTPAuthentication(t *testing.T) {
	const key = "alice-http-key"
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, []byte("alice "+server.HashAPIKey(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri := testbackend.URI(t)
	in := mustInstance(t, uri, testbackend.DBName(t), func(c *gateway.Config) { c.APIKeysFile = keys })
	code, body := in.post(t, "/v1/sessions", `{}`)
	if c, reason := restReason(t, body); code != http.StatusUnauthorized || c != int(codes.Unauthenticated) || reason != "UNAUTHENTICATED" {
		t.Fatalf("without a key: HTTP %d code %d reason %s", code, c, reason)
	}
	if code, body := in.post(t, "/v1/sessions", `{}`, "Authorization", "Bearer "+key); code != http.StatusOK {
		t.Fatalf("with alice's key: HTTP %d %s", code, body)
	}
}

// TestHTTPForwarded forwards an HTTP call on another instance's session
// to its owner, as a gRPC call would be.
func TestHTTPForwarded(t *testing.T) {
	uri := testbackend.URI(t)
	db := testbackend.DBName(t)
	a := mustInstance(t, uri, db, nil)
	b := mustInstance(t, uri, db, nil)
	var started struct {
		Session struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	a.mustPost(t, "/v1/sessions", `{}`, &started)
	body := `{"sessionToken": "` + started.Session.Token + `"}`
	// b learns of a from the directory within a heartbeat or two.
	testkit.WaitFor(t, 10*time.Second, "b forwards to a", func() error {
		if code, resp := b.post(t, "/v1/sessions:get", body); code != http.StatusOK {
			return fmt.Errorf("HTTP %d %s", code, resp)
		}
		return nil
	})
	b.mustPost(t, "/v1/sessions:startTransaction", body, nil)
	a.mustPost(t, nsPath(db, "fw", "insertOne"), `{"sessionToken": "`+started.Session.Token+`", "document": {"_id": 1}}`, nil)
	b.mustPost(t, "/v1/sessions:commitTransaction", body, nil)
	if v, _ := promtest.Serve(t, b.inst.Metrics()).Value("mongogate_forwarded_calls_total"); v < 2 {
		t.Fatalf("b forwarded %v calls, want at least 2", v)
	}
	n, err := testbackend.Client(t, uri).Database(db).Collection("fw").CountDocuments(context.Background(), bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("%d documents, %v", n, err)
	}
}

// TestOpenAPI serves the OpenAPI document of the REST paths.
func TestOpenAPI(t *testing.T) {
	in := mustInstance(t, testbackend.URI(t), testbackend.DBName(t), nil)
	resp, err := http.Get(in.base + httpapi.OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Swagger string         `json:"swagger"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Swagger != "2.0" {
		t.Fatalf("document: %v %+v", err, doc)
	}
	for _, p := range []string{"/v1/sessions", "/v1/sessions:commitTransaction", nsPath("{namespace.database}", "{namespace.collection}", "find")} {
		if doc.Paths[p] == nil {
			t.Errorf("no path %s", p)
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
