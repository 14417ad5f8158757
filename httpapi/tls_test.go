package httpapi_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/mongogate/mongogate/gateway"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// TestTLS serves native gRPC and the HTTP protocols on one TLS listener,
// with client certificates as credentials on both.
func TestTLS(t *testing.T) {
	ca := testkit.NewCA(t, "mongogate test CA")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	in := mustInstance(t, testbackend.URI(t), testbackend.DBName(t), func(c *gateway.Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ServerCert(t, "mongogate.test")}, MinVersion: tls.VersionTLS12}
		c.ClientCAFile = caFile
	})
	clientTLS := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.Pool(), ServerName: "mongogate.test", Certificates: certs, MinVersion: tls.VersionTLS12}
	}
	alice := ca.ClientCert(t, "alice")
	base := "https://" + in.addr

	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: clientTLS(alice), ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		client := &http.Client{Transport: tr}
		// REST goes through the transcoder, Connect unary is served in
		// process: both read the client certificate.
		for _, path := range []string{"/v1/sessions", "/mongogate.v1.SessionService/StartSession"} {
			resp, err := client.Post(base+path, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatalf("HTTP/2 %v: %v", h2, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProto := map[bool]int{false: 1, true: 2}[h2]
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != wantProto {
				t.Fatalf("%s over HTTP/%d with alice's certificate: HTTP/%d %d %s", path, wantProto, resp.ProtoMajor, resp.StatusCode, body)
			}
		}
	}

	anonymous := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS()}}
	for _, path := range []string{"/v1/sessions", "/mongogate.v1.SessionService/StartSession"} {
		resp, err := anonymous.Post(base+path, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var st struct {
			Details []struct {
				Reason string `json:"reason"`
				Debug  struct {
					Reason string `json:"reason"`
				} `json:"debug"`
			} `json:"details"`
		}
		if err := json.Unmarshal(body, &st); err != nil || resp.StatusCode != http.StatusUnauthorized || len(st.Details) == 0 ||
			(st.Details[0].Reason != "UNAUTHENTICATED" && st.Details[0].Debug.Reason != "UNAUTHENTICATED") {
			t.Fatalf("%s without a certificate: HTTP %d %s", path, resp.StatusCode, body)
		}
	}

	conn, err := grpc.NewClient(in.addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(alice))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stubs := testkit.NewStubs(conn)
	started, err := stubs.Sessions.StartSession(testCtx(t), &pb.StartSessionRequest{})
	if err != nil {
		t.Fatalf("native gRPC over TLS on the same port: %v", err)
	}
	if _, err := stubs.Sessions.EndSession(testCtx(t), &pb.EndSessionRequest{SessionToken: started.GetSession().GetToken()}); err != nil {
		t.Fatal(err)
	}
	bare, err := grpc.NewClient(in.addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	_, err = testkit.NewStubs(bare).Sessions.StartSession(testCtx(t), &pb.StartSessionRequest{})
	testkit.WantReason(t, "native gRPC over TLS without a certificate", err, codes.Unauthenticated, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED)
}
