package authz_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mongogate/mongogate/authz"
)

const testRules = `
principals:
  billing:
    readWrite: ["billing.*", "shared.invoices"]
    read: ["shared.*", "app_*.orders"]
  reports:
    read: ["*.*"]
  ops:
    readWrite: ["admin.*", "app.system.views", "*.system.js"]
    read: ["local.oplog.rs", "config.*"]
  dots:
    read: ["db.a.b.*"]
  nothing: {}
  "*":
    read: ["public.*"]
`

func mustParse(t *testing.T, src string) *authz.Rules {
	t.Helper()
	r, err := authz.Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func access(db, coll string, a authz.Action) authz.Access {
	return authz.Access{Namespace: authz.Namespace{Database: db, Collection: coll}, Action: a}
}

func TestRulesAllowed(t *testing.T) {
	r := mustParse(t, testRules)
	const (
		read  = authz.Read
		write = authz.Write
	)
	tests := []struct {
		name      string
		principal string
		access    authz.Access
		want      bool
	}{
		{"readWrite database, read", "billing", access("billing", "orders", read), true},
		{"readWrite database, write", "billing", access("billing", "orders", write), true},
		{"readWrite collection, write", "billing", access("shared", "invoices", write), true},
		{"read database, write refused", "billing", access("shared", "rates", write), false},
		{"read database, read", "billing", access("shared", "rates", read), true},
		{"glob database prefix", "billing", access("app_eu", "orders", read), true},
		{"glob database prefix, empty rest", "billing", access("app_", "orders", read), true},
		{"glob database prefix, other collection", "billing", access("app_eu", "users", read), false},
		{"glob database prefix, no match", "billing", access("apps", "orders", read), false},
		{"unlisted database", "billing", access("hr", "people", read), false},
		{"star star reads every user namespace", "reports", access("anything", "at.all", read), true},
		{"star star does not write", "reports", access("anything", "x", write), false},
		{"star star skips admin", "reports", access("admin", "users", read), false},
		{"star star skips local", "reports", access("local", "oplog.rs", read), false},
		{"star star skips config", "reports", access("config", "chunks", read), false},
		{"star star skips system collections", "reports", access("app", "system.views", read), false},
		{"star star skips nested system collections", "reports", access("app", "a.system.b", read), false},
		{"admin named literally", "ops", access("admin", "users", write), true},
		{"admin named, system collection still literal only", "ops", access("admin", "system.users", read), false},
		{"system collection named literally", "ops", access("app", "system.views", write), true},
		{"system collection named, any database", "ops", access("app2", "system.js", write), true},
		{"system collection named, reserved database still literal", "ops", access("admin", "system.js", write), false},
		{"local named literally", "ops", access("local", "oplog.rs", read), true},
		{"local named literally, other collection", "ops", access("local", "startup_log", read), false},
		{"config database named", "ops", access("config", "cache.chunks.db.c", read), true},
		{"config named read only", "ops", access("config", "x", write), false},
		{"collection with dots", "dots", access("db", "a.b.c", read), true},
		{"collection with dots, prefix only", "dots", access("db", "a.bc", read), false},
		{"empty entry: wildcard only", "nothing", access("public", "news", read), true},
		{"empty entry: nothing else", "nothing", access("billing", "orders", read), false},
		{"wildcard applies to named principals", "billing", access("public", "news", read), true},
		{"wildcard read only", "billing", access("public", "news", write), false},
		{"unknown principal: wildcard", "stranger", access("public", "news", read), true},
		{"unknown principal: nothing else", "stranger", access("billing", "orders", read), false},
		{"principal names are exact", "Billing", access("billing", "orders", read), false},
		{"anonymous is a principal like others", "anonymous", access("public", "x", read), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Allowed(tt.principal, tt.access); got != tt.want {
				t.Fatalf("Allowed(%q, %s %s) = %v, want %v", tt.principal, tt.access.Action, tt.access.Namespace, got, tt.want)
			}
		})
	}
}

func TestRulesCheck(t *testing.T) {
	r := mustParse(t, testRules)
	ok := []authz.Access{access("billing", "a", authz.Write), access("shared", "b", authz.Read)}
	if err := r.Check("billing", ok); err != nil {
		t.Fatalf("Check(allowed) = %v", err)
	}
	bad := access("shared", "b", authz.Write)
	err := r.Check("billing", append(ok, bad, access("hr", "x", authz.Read)))
	var denied *authz.DeniedError
	if !errors.As(err, &denied) || !errors.Is(err, authz.ErrForbidden) {
		t.Fatalf("Check = %v, want a DeniedError", err)
	}
	if denied.Access != bad {
		t.Fatalf("denied %v, want the first refused access %v", denied.Access, bad)
	}
}

func TestGlob(t *testing.T) {
	r := mustParse(t, `
principals:
  p:
    read: ["a*b*c.x", "*z.*", "lit.e*", "**.y"]
`)
	tests := []struct {
		db, coll string
		want     bool
	}{
		{"abc", "x", true},
		{"aXXbYYc", "x", true},
		{"abbbc", "x", true},
		{"acb", "x", false},
		{"abcd", "x", false},
		{"z", "q", true},
		{"zzz", "q", true},
		{"za", "q", false},
		{"lit", "e", true},
		{"lit", "every.thing", true},
		{"lit", "xe", false},
		{"any", "y", true},
	}
	for _, tt := range tests {
		if got := r.Allowed("p", access(tt.db, tt.coll, authz.Read)); got != tt.want {
			t.Errorf("%s.%s: allowed = %v, want %v", tt.db, tt.coll, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, src string }{
		{"empty", ""},
		{"comments only", "# nothing\n"},
		{"no principals key", "rules: {}\n"},
		{"unknown top key", "principals: {}\nversion: 2\n"},
		{"unknown grant key", "principals:\n  p:\n    write: [a.b]\n"},
		{"principal twice", "principals:\n  p:\n    read: [a.b]\n  p:\n    read: [c.d]\n"},
		{"database only", "principals:\n  p:\n    read: [billing]\n"},
		{"bare star", "principals:\n  p:\n    read: ['*']\n"},
		{"empty collection", "principals:\n  p:\n    read: [billing.]\n"},
		{"empty database", "principals:\n  p:\n    read: [.orders]\n"},
		{"bad database char", "principals:\n  p:\n    read: ['a$b.c']\n"},
		{"bad collection char", "principals:\n  p:\n    read: ['a.b$c']\n"},
		{"not a list", "principals:\n  p:\n    read: a.b\n"},
		{"not yaml", "principals: [\n"},
		{"empty principal", "principals:\n  '':\n    read: [a.b]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := authz.Parse([]byte(tt.src)); err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", tt.src)
			}
		})
	}
}

// A reload that fails keeps the rules in force; one that succeeds
// replaces them.
func TestAuthorizerReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authz.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("principals:\n  p:\n    read: [a.*]\n")
	a, err := authz.New(authz.Config{File: path})
	if err != nil {
		t.Fatal(err)
	}
	readA := []authz.Access{access("a", "x", authz.Read)}
	readB := []authz.Access{access("b", "x", authz.Read)}
	if err := a.Check("p", readA); err != nil {
		t.Fatalf("before reload: %v", err)
	}

	write("principals:\n  p:\n    read: [b.*\n")
	if _, err := a.Reload(); err == nil {
		t.Fatal("Reload of a bad file succeeded")
	}
	if err := a.Check("p", readA); err != nil {
		t.Fatalf("after a failed reload the old rules must stay: %v", err)
	}

	write("principals:\n  p:\n    read: [b.*]\n")
	if _, err := a.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := a.Check("p", readB); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	if err := a.Check("p", readA); !errors.Is(err, authz.ErrForbidden) {
		t.Fatalf("after reload, old grant: %v, want ErrForbidden", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if err := a.Check("p", readB); err != nil {
		t.Fatalf("after a failed reload: %v", err)
	}
	if _, err := authz.New(authz.Config{File: path}); err == nil {
		t.Fatal("New with a missing file succeeded")
	}
}
