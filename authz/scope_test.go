package authz

import "testing"

// A namespace with empty parts (every collection, every database) is
// covered only by "*" in those parts.
func TestScopeNamespaces(t *testing.T) {
	r, err := Parse([]byte(`principals:
  all:
    read: ["*.*"]
  app:
    read: ["app.*"]
  some:
    read: ["app.orders*", "app_*.*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	database := Namespace{Database: "app"}
	deployment := Namespace{}
	tests := []struct {
		principal string
		ns        Namespace
		want      bool
	}{
		{"all", database, true},
		{"all", deployment, true},
		{"app", database, true},
		{"app", Namespace{Database: "other"}, false},
		{"app", deployment, false},
		{"some", database, false},
		{"some", Namespace{Database: "app_x"}, true},
		{"some", deployment, false},
		{"nobody", database, false},
	}
	for _, tt := range tests {
		t.Run(tt.principal+" "+tt.ns.String(), func(t *testing.T) {
			if got := r.Allowed(tt.principal, Access{Namespace: tt.ns, Action: Read}); got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
}
