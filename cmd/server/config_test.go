package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr bool
		check   func(t *testing.T, c *config)
	}{
		{name: "defaults", check: func(t *testing.T, c *config) {
			if c.listen != "127.0.0.1:50051" || c.mongoURI != "" || c.gw.IdleTimeout != 5*time.Minute || !c.retryWrites {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "environment fills an unset flag", env: map[string]string{"MONGOGATE_LISTEN": "127.0.0.1:1", "MONGOGATE_IDLE_TIMEOUT": "7s"},
			check: func(t *testing.T, c *config) {
				if c.listen != "127.0.0.1:1" || c.gw.IdleTimeout != 7*time.Second {
					t.Errorf("listen %q idle %v", c.listen, c.gw.IdleTimeout)
				}
			}},
		{name: "flag wins over environment", args: []string{"--listen", "127.0.0.1:2"}, env: map[string]string{"MONGOGATE_LISTEN": "127.0.0.1:1"},
			check: func(t *testing.T, c *config) {
				if c.listen != "127.0.0.1:2" {
					t.Errorf("listen %q, want the flag's", c.listen)
				}
			}},
		{name: "backends from flags and environment",
			args: []string{"--backend", "a=mongodb://a:1", "--backend-option", "a:causal_consistency=false"},
			check: func(t *testing.T, c *config) {
				if len(c.backends) != 1 || c.backends[0].name != "a" || c.backendBool("a", "causal_consistency", true) {
					t.Errorf("backends %+v opts %+v", c.backends, c.backendOpts)
				}
				if !c.backendBool("a", "retry_writes", true) {
					t.Error("unset option must fall back to the default")
				}
			}},
		{name: "several backends in one variable", env: map[string]string{"MONGOGATE_BACKEND": "a=mongodb://a:1 b=mongodb://b:1"},
			check: func(t *testing.T, c *config) {
				if len(c.backends) != 2 {
					t.Errorf("backends %+v", c.backends)
				}
			}},
		{name: "authorization rules from the environment", env: map[string]string{"MONGOGATE_AUTHZ": "/etc/mongogate/authz.yaml"},
			check: func(t *testing.T, c *config) {
				if c.gw.Files.Authz != "/etc/mongogate/authz.yaml" {
					t.Errorf("authz %q", c.gw.Files.Authz)
				}
			}},
		{name: "bad environment value names the variable", env: map[string]string{"MONGOGATE_IDLE_TIMEOUT": "soon"}, wantErr: true},
		{name: "backend without uri", args: []string{"--backend", "a"}, wantErr: true},
		{name: "duplicate backend", args: []string{"--backend", "a=x", "--backend", "a=y"}, wantErr: true},
		{name: "option for unknown backend", args: []string{"--backend-option", "zz:retry_writes=false"}, wantErr: true},
		{name: "unknown backend option", args: []string{"--backend", "a=x", "--backend-option", "a:colour=red"}, wantErr: true},
		{name: "default backend twice", args: []string{"--mongo-uri", "mongodb://x", "--backend", "default=mongodb://y"}, wantErr: true},
		{name: "tls cert without key", args: []string{"--tls-cert", "c.pem"}, wantErr: true},
		{name: "client CA without TLS", args: []string{"--tls-client-ca", "ca.pem"}, wantErr: true},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: true},
		{name: "stray argument", args: []string{"serve"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c, err := parseConfig(tt.args, env(tt.env), &out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil && err == nil {
				tt.check(t, c)
			}
		})
	}
}

func TestEnvironmentErrorNamesVariable(t *testing.T) {
	_, err := parseConfig(nil, env(map[string]string{"MONGOGATE_MAX_SESSIONS": "lots"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "MONGOGATE_MAX_SESSIONS") {
		t.Errorf("err = %v, want it to name MONGOGATE_MAX_SESSIONS", err)
	}
}

// Every flag is documented in --help together with its variable.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	fs := newFlagSet(&config{}, &bytes.Buffer{})
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "-"+f.Name) {
			t.Errorf("--help does not mention -%s", f.Name)
		}
		if f.Usage == "" {
			t.Errorf("flag -%s has no usage text", f.Name)
		}
	})
	if !strings.Contains(out.String(), "MONGOGATE_SOME_FLAG") {
		t.Error("--help does not explain the environment variables")
	}
}

func TestRunExitCodes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, env(nil), &stdout, &stderr); code != 0 {
		t.Errorf("--help exit code %d, want 0", code)
	}
	if code := run([]string{"--no-such-flag"}, env(nil), &stdout, &stderr); code != 2 {
		t.Errorf("bad flag exit code %d, want 2", code)
	}
	if code := run([]string{"--log-level", "loud"}, env(nil), &stdout, &stderr); code != 2 {
		t.Errorf("bad log level exit code %d, want 2", code)
	}
	// A rules file that does not load stops the start, before anything
	// listens.
	bad := filepath.Join(t.TempDir(), "authz.yaml")
	if err := os.WriteFile(bad, []byte("principals:\n  p:\n    read: [nodot]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{bad, filepath.Join(t.TempDir(), "missing.yaml")} {
		stdout.Reset()
		if code := run([]string{"--authz", file, "--listen", "127.0.0.1:0"}, env(nil), &stdout, &stderr); code != 1 {
			t.Errorf("--authz %s: exit code %d, want 1", file, code)
		}
		if strings.Contains(stdout.String(), "listening") {
			t.Errorf("--authz %s: the server listened", file)
		}
	}
}
