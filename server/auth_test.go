package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testkit"
)

const (
	billingKey = "mg_billing_3f9c1b7e2d"
	reportsKey = "mg_reports_8a1e"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustKeysFile(t *testing.T) string {
	t.Helper()
	return writeTemp(t, "keys", []byte(strings.Join([]string{
		"# principal  sha256(key)",
		"",
		"billing   " + HashAPIKey(billingKey) + "   # rotated 2024-05",
		"reports\t" + strings.ToUpper(HashAPIKey(reportsKey)),
		"billing   " + HashAPIKey("mg_billing_old"),
	}, "\n")))
}

// authCase is one call and what it should meet.
type authCase struct {
	name      string
	header    string // authorization metadata; "" sends none
	code      codes.Code
	principal string // on success
}

// runAuthCases makes each call both as a unary and as a streaming RPC.
func runAuthCases(t *testing.T, cfg TransportConfig, cases []authCase, dialOpts ...grpc.DialOption) {
	t.Helper()
	rec := &principalRecorder{}
	ss, ds := rec.services()
	conn := mustServe(t, cfg, ss, ds, dialOpts...)
	calls := map[string]func(ctx context.Context) error{
		"unary": func(ctx context.Context) error {
			_, err := pb.NewSessionServiceClient(conn).GetSession(ctx, &pb.GetSessionRequest{})
			return err
		},
		"stream": func(ctx context.Context) error { return callFind(ctx, conn) },
	}
	for _, tt := range cases {
		for kind, call := range calls {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				ctx := context.Background()
				if tt.header != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.header)
				}
				err := call(ctx)
				if tt.code == codes.OK {
					if err != nil {
						t.Fatalf("call failed: %v", err)
					}
					if got := rec.principal(); got != tt.principal {
						t.Errorf("principal = %q, want %q", got, tt.principal)
					}
					return
				}
				d := mustDetails(t, err)
				if d.code != tt.code || d.info.GetReason() != pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED.Wire() {
					t.Fatalf("got %v %s, want %v %s", d.code, d.info.GetReason(), tt.code, pb.ErrorReason_ERROR_REASON_UNAUTHENTICATED.Wire())
				}
			})
		}
	}
	t.Run("health stays open", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health check = %v, %v", resp.GetStatus(), err)
		}
	})
}

func TestAuthAPIKeys(t *testing.T) {
	a, err := NewAuthenticator(AuthConfig{APIKeysFile: mustKeysFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Anonymous() {
		t.Error("Anonymous() with keys and no AllowAnonymous")
	}
	runAuthCases(t, TransportConfig{Auth: a}, []authCase{
		{"good key", "Bearer " + billingKey, codes.OK, "billing"},
		{"lower-case scheme", "bearer " + reportsKey, codes.OK, "reports"},
		{"second key of a principal", "Bearer mg_billing_old", codes.OK, "billing"},
		{"unknown key", "Bearer mg_guess", codes.Unauthenticated, ""},
		{"hash instead of key", "Bearer " + HashAPIKey(billingKey), codes.Unauthenticated, ""},
		{"wrong scheme", "Basic " + billingKey, codes.Unauthenticated, ""},
		{"no key", "Bearer", codes.Unauthenticated, ""},
		{"missing header", "", codes.Unauthenticated, ""},
	})
}

func TestAuthAnonymousAllowedWithKeys(t *testing.T) {
	a, err := NewAuthenticator(AuthConfig{APIKeysFile: mustKeysFile(t), AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	runAuthCases(t, TransportConfig{Auth: a}, []authCase{
		{"no credentials", "", codes.OK, AnonymousPrincipal},
		{"good key", "Bearer " + billingKey, codes.OK, "billing"},
		{"bad key is still refused", "Bearer mg_guess", codes.Unauthenticated, ""},
	})
}

func TestAuthOff(t *testing.T) {
	a := mustAnonymous(t)
	if !a.Anonymous() {
		t.Error("Anonymous() = false with authentication off")
	}
	runAuthCases(t, TransportConfig{Auth: a}, []authCase{
		{"no credentials", "", codes.OK, AnonymousPrincipal},
		{"key ignored", "Bearer " + billingKey, codes.OK, AnonymousPrincipal},
	})
}

func TestAuthNilRejects(t *testing.T) {
	runAuthCases(t, TransportConfig{}, []authCase{
		{"no credentials", "", codes.Unauthenticated, ""},
		{"key", "Bearer " + billingKey, codes.Unauthenticated, ""},
	})
}

func TestNewAuthenticatorErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  AuthConfig
	}{
		{"nothing configured", AuthConfig{}},
		{"missing keys file", AuthConfig{APIKeysFile: filepath.Join(t.TempDir(), "nope")}},
		{"missing CA file", AuthConfig{ClientCAFile: filepath.Join(t.TempDir(), "nope"), AllowAnonymous: true}},
		{"CA file without certificates", AuthConfig{ClientCAFile: writeTemp(t, "ca.pem", []byte("not pem"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewAuthenticator(tt.cfg); err == nil {
				t.Fatal("NewAuthenticator succeeded")
			}
		})
	}
}

func TestParseAPIKeys(t *testing.T) {
	h := HashAPIKey("k")
	tests := []struct {
		name string
		file string
		ok   bool
	}{
		{"good", "a " + h + "\n# comment\n\nb " + HashAPIKey("k2") + " # trailing\n", true},
		{"empty", "# only comments\n\n", false},
		{"one field", "a\n", false},
		{"three fields", "a " + h + " extra\n", false},
		{"short hash", "a abcdef\n", false},
		{"not hex", "a " + strings.Repeat("z", 64) + "\n", false},
		{"duplicate hash", "a " + h + "\nb " + h + "\n", false},
		{"reserved principal", "anonymous " + h + "\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := parseAPIKeys([]byte(tt.file))
			if tt.ok != (err == nil) {
				t.Fatalf("parseAPIKeys: %v, %v; want ok=%v", keys, err, tt.ok)
			}
		})
	}
}

func TestAuthMTLS(t *testing.T) {
	ca := testkit.NewCA(t, "mongogate test CA")
	rogue := testkit.NewCA(t, "rogue CA")
	serverCert := ca.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mongogate.test"},
		DNSNames:    []string{"mongogate.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	a, err := NewAuthenticator(AuthConfig{
		ClientCAFile: writeTemp(t, "ca.pem", ca.PEM),
		APIKeysFile:  mustKeysFile(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := TransportConfig{Auth: a, TLS: &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13}}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	dial := func(certs ...tls.Certificate) grpc.DialOption {
		return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: roots, ServerName: "mongogate.test", Certificates: certs, MinVersion: tls.VersionTLS13,
		}))
	}

	t.Run("URI SAN", func(t *testing.T) {
		runAuthCases(t, cfg, []authCase{
			{"certificate", "", codes.OK, "spiffe://mongogate.test/billing"},
			{"certificate wins over a bad key", "Bearer mg_guess", codes.OK, "spiffe://mongogate.test/billing"},
		}, dial(ca.ClientCert(t, "billing-cn", "spiffe://mongogate.test/billing", "spiffe://mongogate.test/other")))
	})
	t.Run("common name", func(t *testing.T) {
		runAuthCases(t, cfg, []authCase{
			{"certificate", "", codes.OK, "reports-service"},
		}, dial(ca.ClientCert(t, "reports-service")))
	})
	t.Run("no name", func(t *testing.T) {
		runAuthCases(t, cfg, []authCase{
			{"certificate", "", codes.Unauthenticated, ""},
		}, dial(ca.ClientCert(t, "")))
	})
	t.Run("no certificate", func(t *testing.T) {
		runAuthCases(t, cfg, []authCase{
			{"API key", "Bearer " + billingKey, codes.OK, "billing"},
			{"nothing", "", codes.Unauthenticated, ""},
		}, dial())
	})
	t.Run("untrusted CA", func(t *testing.T) {
		// The client does not offer a certificate that the server's list
		// of acceptable CAs excludes, so only the key can authenticate.
		runAuthCases(t, cfg, []authCase{
			{"API key", "Bearer " + billingKey, codes.OK, "billing"},
			{"nothing", "", codes.Unauthenticated, ""},
		}, dial(rogue.ClientCert(t, "intruder")))
	})
	t.Run("untrusted CA forced", func(t *testing.T) {
		rogueCert := rogue.ClientCert(t, "intruder")
		rec := &principalRecorder{}
		ss, ds := rec.services()
		conn := mustServe(t, cfg, ss, ds, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: roots, ServerName: "mongogate.test", MinVersion: tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogueCert, nil },
		})))
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+billingKey)
		_, err := pb.NewSessionServiceClient(conn).GetSession(ctx, &pb.GetSessionRequest{})
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("call with a rogue certificate: %v, want the handshake to fail", err)
		}
	})
}

func TestPrincipalFromCert(t *testing.T) {
	ca := testkit.NewCA(t, "ca")
	tests := []struct {
		name string
		cert tls.Certificate
		want string
	}{
		{"first URI SAN", ca.ClientCert(t, "cn", "spiffe://a/b", "spiffe://c/d"), "spiffe://a/b"},
		{"common name", ca.ClientCert(t, "svc"), "svc"},
		{"nothing", ca.ClientCert(t, ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := principalFromCert(tt.cert.Leaf); got != tt.want {
				t.Errorf("principalFromCert = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPrincipalFromEmpty(t *testing.T) {
	if p := PrincipalFrom(context.Background()); p != "" {
		t.Errorf("PrincipalFrom(background) = %q", p)
	}
}
