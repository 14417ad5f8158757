package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mongogate/mongogate/authz"
)

// Files and endpoints the instance loads itself, for a caller that has
// names rather than loaded values (cmd/server's flags). Each is used only
// when the loaded field it stands for is nil.
type Files struct {
	// TLSCert and TLSKey (PEM) fill Config.TLS.
	TLSCert, TLSKey string
	// PeerTLSCA (PEM) fills Config.PeerTLS.
	PeerTLSCA string
	// PeerSecret, a file of 32+ bytes (surrounding white space ignored),
	// fills Config.PeerSecret.
	PeerSecret string
	// Authz, a rules file, fills Config.Authz.
	Authz string
	// OTLPEndpoint, a collector as host:port (TLS) or http://host:port
	// (plaintext), fills Config.TracerProvider with an OTLP/gRPC exporter
	// that the instance shuts down with itself.
	OTLPEndpoint string
}

// load fills c from c.Files; it returns the tracer provider it started,
// if any.
func (c *Config) load(ctx context.Context, instance string) (*sdktrace.TracerProvider, error) {
	f := c.Files
	if f.TLSCert != "" && c.TLS == nil {
		cert, err := tls.LoadX509KeyPair(f.TLSCert, f.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.PeerTLSCA != "" && c.PeerTLS == nil {
		pemBytes, err := os.ReadFile(f.PeerTLSCA)
		if err != nil {
			return nil, fmt.Errorf("peer TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("peer TLS CA %s: no certificates", f.PeerTLSCA)
		}
		c.PeerTLS = &tls.Config{RootCAs: pool}
	}
	if f.PeerSecret != "" && c.PeerSecret == nil {
		b, err := os.ReadFile(f.PeerSecret)
		if err != nil {
			return nil, fmt.Errorf("peer secret: %w", err)
		}
		c.PeerSecret = bytes.TrimSpace(b)
	}
	if c.PeerSecret != nil && len(c.PeerSecret) < 32 {
		return nil, fmt.Errorf("peer secret: %d bytes, want at least 32 (e.g. head -c 32 /dev/urandom | base64)", len(c.PeerSecret))
	}
	if f.Authz != "" && c.Authz == nil {
		a, err := authz.New(authz.Config{File: f.Authz})
		if err != nil {
			return nil, err
		}
		c.Logger.Info("mongogate: authorization rules loaded", "file", a.File(), "principals", a.Rules().Principals())
		c.Authz = a
	}
	if f.OTLPEndpoint == "" || c.TracerProvider != nil {
		return nil, nil
	}
	tp, err := newTracerProvider(ctx, f.OTLPEndpoint, instance)
	if err != nil {
		return nil, err
	}
	c.TracerProvider = tp
	c.Logger.Info("mongogate: tracing", "otlp_endpoint", f.OTLPEndpoint)
	return tp, nil
}

// newTracerProvider exports spans over OTLP/gRPC to endpoint, a URL
// (http:// for plaintext, https:// for TLS) or host:port (TLS). Sampling
// follows the OTEL_TRACES_SAMPLER variables, by default every trace the
// caller samples and every new one.
func newTracerProvider(ctx context.Context, endpoint, instance string) (*sdktrace.TracerProvider, error) {
	opt := otlptracegrpc.WithEndpoint(endpoint)
	if strings.Contains(endpoint, "://") {
		opt = otlptracegrpc.WithEndpointURL(endpoint)
	}
	exp, err := otlptracegrpc.New(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "mongogate"),
		attribute.String("service.instance.id", instance),
	)
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
