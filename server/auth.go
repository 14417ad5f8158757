package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// AnonymousPrincipal is the principal of callers admitted without
// credentials (AuthConfig.AllowAnonymous). All of them share it, so they
// can use each other's sessions: development only.
const AnonymousPrincipal = "anonymous"

// AuthConfig says how callers prove who they are. The principal found is
// the owner of the sessions the caller starts (a session is usable only by
// its principal).
//
// API keys: the caller sends the gRPC metadata "authorization: Bearer
// <key>". APIKeysFile lists the accepted keys, stored hashed, one
// "principal sha256hex" pair a line:
//
//	# principal   SHA-256 of the key, hex (printf %s "$KEY" | sha256sum)
//	billing       5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//	reports       9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//
// Blank lines and everything after a "#" are ignored. A principal may have
// several keys (rotation); a key hash may appear only once. Principals
// contain no white space and no "#", and "anonymous" is reserved.
//
// mTLS: ClientCAFile holds the PEM certificates of the CAs that issue
// client certificates. A client whose certificate verifies against them is
// the principal named by the certificate's first URI SAN (e.g. a SPIFFE
// ID), or, with no URI SAN, by its subject common name. mTLS needs the
// server to serve TLS (TransportConfig.TLS); the handshake then asks for a
// client certificate without requiring one, so the health service stays
// reachable and API-key callers still connect.
//
// Both may be enabled. A verified client certificate wins: the caller is
// its principal and an authorization header is not consulted. Otherwise
// the bearer key decides; a key that is sent but not accepted fails the
// call even when anonymous callers are allowed.
//
// With neither configured, authentication is off and every caller is
// "anonymous"; that must be asked for with AllowAnonymous. With either
// configured, AllowAnonymous admits callers that present no credentials
// at all as "anonymous".
//
// Forwarded calls: another instance that forwards a call on one of this
// instance's sessions asserts the caller's principal, signed with
// PeerSecret (see ForwardConfig.Secret); the signature is the credential.
// With PeerSecret, forwarding metadata of any form without a valid
// signature is refused, whoever sends it. Without it, a call that asserts
// a principal is refused, and the unsigned form only marks the call as
// forwarded, which a client gains nothing by (see mdForwarded).
type AuthConfig struct {
	APIKeysFile    string
	ClientCAFile   string
	AllowAnonymous bool
	PeerSecret     []byte
}

// Authenticator resolves the principal of each call. It is immutable once
// built and safe for concurrent use. A nil *Authenticator rejects every
// call that needs authentication.
type Authenticator struct {
	keys           []apiKey
	roots          [][]byte // DER of the client CAs: a verified chain must end in one
	clientCAs      *x509.CertPool
	allowAnonymous bool
	peerSecret     []byte
}

type apiKey struct {
	principal string
	sum       [sha256.Size]byte
}

type principalKey struct{}

// NewAuthenticator reads the key file and CA file that cfg names.
func NewAuthenticator(cfg AuthConfig) (*Authenticator, error) {
	a := &Authenticator{allowAnonymous: cfg.AllowAnonymous, peerSecret: cfg.PeerSecret}
	if cfg.APIKeysFile != "" {
		b, err := os.ReadFile(cfg.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("server: api keys: %w", err)
		}
		if a.keys, err = parseAPIKeys(b); err != nil {
			return nil, fmt.Errorf("server: api keys %s: %w", cfg.APIKeysFile, err)
		}
	}
	if cfg.ClientCAFile != "" {
		b, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("server: client CAs: %w", err)
		}
		if err := a.loadClientCAs(b); err != nil {
			return nil, fmt.Errorf("server: client CAs %s: %w", cfg.ClientCAFile, err)
		}
	}
	if len(a.keys) == 0 && a.clientCAs == nil && !a.allowAnonymous {
		return nil, errors.New("server: no authentication configured (API keys or client CAs); set AllowAnonymous to run without any")
	}
	return a, nil
}

// HashAPIKey is the form of key that an API keys file holds.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func parseAPIKeys(b []byte) ([]apiKey, error) {
	var keys []apiKey
	seen := make(map[[sha256.Size]byte]bool)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"principal sha256hex\", got %d fields", n, len(f))
		}
		if f[0] == AnonymousPrincipal {
			return nil, fmt.Errorf("line %d: principal %q is reserved", n, AnonymousPrincipal)
		}
		var k apiKey
		k.principal = f[0]
		if len(f[1]) != hex.EncodedLen(sha256.Size) {
			return nil, fmt.Errorf("line %d: key hash must be %d hex digits (SHA-256)", n, hex.EncodedLen(sha256.Size))
		}
		if _, err := hex.Decode(k.sum[:], []byte(f[1])); err != nil {
			return nil, fmt.Errorf("line %d: key hash: %w", n, err)
		}
		if seen[k.sum] {
			return nil, fmt.Errorf("line %d: key hash listed twice", n)
		}
		seen[k.sum] = true
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

func (a *Authenticator) loadClientCAs(pemBytes []byte) error {
	a.clientCAs = x509.NewCertPool()
	for rest := pemBytes; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return err
		}
		a.clientCAs.AddCert(cert)
		a.roots = append(a.roots, cert.Raw)
	}
	if len(a.roots) == 0 {
		return errors.New("no PEM certificates")
	}
	return nil
}

// Anonymous reports whether callers without credentials are admitted (as
// AnonymousPrincipal). The server should say so loudly at startup.
func (a *Authenticator) Anonymous() bool { return a != nil && a.allowAnonymous }

// configureTLS makes the handshake ask for client certificates signed by
// the client CAs. It does not require one, so that the health service and
// API-key callers still connect; Authenticate decides per call.
// ServerTLS is base with what authentication needs of TLS (the client CAs
// of mTLS): the configuration a listener serving this server's calls
// uses. It is nil when base is.
func (a *Authenticator) ServerTLS(base *tls.Config) *tls.Config {
	if base == nil {
		return nil
	}
	tc := base.Clone()
	a.configureTLS(tc)
	return tc
}

func (a *Authenticator) configureTLS(tc *tls.Config) {
	if a == nil || a.clientCAs == nil {
		return
	}
	tc.ClientCAs = a.clientCAs
	tc.ClientAuth = tls.VerifyClientCertIfGiven
}

// Authenticate finds the caller's principal and stores it in the returned
// context (see PrincipalFrom). It is an auth.AuthFunc; its errors are
// UNAUTHENTICATED with reason UNAUTHENTICATED.
//
// A call forwarded by another instance is marked (so it is not forwarded
// again); its principal is the one the forwarder asserted and signed, or,
// without an assertion, found from the caller's own credentials that the
// forwarder passed on.
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	if a == nil {
		return nil, errUnauthenticated("authentication is not configured on this server")
	}
	from, p, asserted, err := forwarded(ctx, a.peerSecret)
	if err != nil {
		return nil, err
	}
	if !asserted {
		if p, err = a.principal(ctx); err != nil {
			return nil, err
		}
	}
	notePrincipal(ctx, p)
	ctx = withPrincipal(ctx, p)
	if from != "" {
		ctx = context.WithValue(ctx, forwardedKey{}, from)
	}
	return ctx, nil
}

func (a *Authenticator) principal(ctx context.Context) (string, error) {
	if a == nil {
		return "", errUnauthenticated("authentication is not configured on this server")
	}
	if a.clientCAs != nil {
		if p, ok, err := a.certPrincipal(ctx); ok || err != nil {
			return p, err
		}
	}
	if len(a.keys) > 0 {
		if p, ok, err := a.keyPrincipal(ctx); ok || err != nil {
			return p, err
		}
	}
	if a.allowAnonymous {
		return AnonymousPrincipal, nil
	}
	return "", errUnauthenticated("no credentials: send \"authorization: Bearer <API key>\" or a client certificate")
}

// certPrincipal reads the principal from a client certificate that the
// handshake verified against our client CAs. ok is false when there is
// none.
func (a *Authenticator) certPrincipal(ctx context.Context) (p string, ok bool, err error) {
	pr, found := peer.FromContext(ctx)
	if !found {
		return "", false, nil
	}
	info, isTLS := pr.AuthInfo.(credentials.TLSInfo)
	if !isTLS {
		return "", false, nil
	}
	for _, chain := range info.State.VerifiedChains {
		if len(chain) == 0 || !a.isClientCA(chain[len(chain)-1]) {
			continue
		}
		p := principalFromCert(chain[0])
		if p == "" || p == AnonymousPrincipal {
			return "", false, errUnauthenticated("the client certificate names no usable principal (URI SAN or common name)")
		}
		return p, true, nil
	}
	return "", false, nil
}

func (a *Authenticator) isClientCA(c *x509.Certificate) bool {
	for _, r := range a.roots {
		if bytes.Equal(r, c.Raw) {
			return true
		}
	}
	return false
}

// principalFromCert is the certificate's first URI SAN, or else its
// subject common name.
func principalFromCert(c *x509.Certificate) string {
	if len(c.URIs) > 0 {
		return c.URIs[0].String()
	}
	return c.Subject.CommonName
}

// keyPrincipal checks the bearer key. ok is false when none was sent.
func (a *Authenticator) keyPrincipal(ctx context.Context) (p string, ok bool, err error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	switch len(vals) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, errUnauthenticated("more than one authorization header")
	}
	scheme, key, found := strings.Cut(vals[0], " ")
	key = strings.TrimSpace(key)
	if !found || !strings.EqualFold(scheme, "bearer") || key == "" {
		return "", false, errUnauthenticated("the authorization header must be \"Bearer <API key>\"")
	}
	sum := sha256.Sum256([]byte(key))
	// Every stored hash is compared, so timing does not tell how far a
	// guess got nor which entry matched.
	match := -1
	for i := range a.keys {
		if subtle.ConstantTimeCompare(sum[:], a.keys[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", false, errUnauthenticated("the API key is not accepted")
	}
	return a.keys[match].principal, true, nil
}

func withPrincipal(ctx context.Context, p string) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom is the authenticated caller of the RPC whose context ctx
// is: a key-file principal, a certificate's URI SAN or common name, or
// AnonymousPrincipal. It is "" outside authenticated RPCs (the health and
// reflection services skip authentication).
func PrincipalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// needsAuth: every service but health checking and reflection, which load
// balancers and grpcurl use before they have credentials.
func needsAuth(_ context.Context, c interceptors.CallMeta) bool {
	return c.Service != healthpb.Health_ServiceDesc.ServiceName && !strings.HasPrefix(c.Service, "grpc.reflection.")
}

// UnaryServerInterceptor authenticates unary calls (all but health and
// reflection).
func (a *Authenticator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return selector.UnaryServerInterceptor(auth.UnaryServerInterceptor(a.Authenticate), selector.MatchFunc(needsAuth))
}

// StreamServerInterceptor authenticates streaming calls (all but health
// and reflection).
func (a *Authenticator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return selector.StreamServerInterceptor(auth.StreamServerInterceptor(a.Authenticate), selector.MatchFunc(needsAuth))
}
