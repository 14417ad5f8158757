package spec

import (
	"context"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want version
		bad  bool
	}{
		{"7", version{7, 0, 0}, false},
		{"4.2", version{4, 2, 0}, false},
		{"4.0.10", version{4, 0, 10}, false},
		{"4.9.0-alpha4-271-g7d5cf02", version{4, 9, 0}, false},
		{"x.1", version{}, true},
		{"1.2.3.4", version{}, true},
	}
	for _, tt := range tests {
		got, err := parseVersion(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseVersion(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
	if (version{4, 0, 10}).compare(version{4, 0, 9}) <= 0 || (version{3, 6, 0}).compare(version{4, 2, 0}) >= 0 {
		t.Error("versions must compare component by component, numerically")
	}
}

func TestUnmet(t *testing.T) {
	facts := serverFacts{
		version:  version{7, 0, 2},
		topology: "replicaset",
		parameter: func(_ context.Context, name string) (bson.RawValue, bool) {
			switch name {
			case "enableTestCommands":
				return val(t, `1.0`), true
			case "authenticationMechanisms":
				return val(t, `["SCRAM-SHA-256"]`), true
			}
			return bson.RawValue{}, false
		},
	}
	yes, no := true, false
	tests := []struct {
		name     string
		reqs     []runOnRequirement
		wantSkip string // substring of the skip reason; "" means the test runs
	}{
		{"no requirements", nil, ""},
		{"version range", []runOnRequirement{{MinServerVersion: "4.0", MaxServerVersion: "7.0.99"}}, ""},
		{"too old", []runOnRequirement{{MinServerVersion: "8.0"}}, "needs server >= 8.0"},
		{"too new", []runOnRequirement{{MaxServerVersion: "4.4.99"}}, "needs server <= 4.4.99"},
		{"topology", []runOnRequirement{{Topologies: []string{"sharded", "load-balanced"}}}, "needs topology"},
		{"any requirement suffices", []runOnRequirement{{Topologies: []string{"sharded"}}, {Topologies: []string{"replicaset"}}}, ""},
		{"serverless forbid", []runOnRequirement{{Serverless: "forbid"}}, ""},
		{"serverless require", []runOnRequirement{{Serverless: "require"}}, "Serverless"},
		{"auth required", []runOnRequirement{{Auth: &yes}}, "authentication enabled"},
		{"auth forbidden", []runOnRequirement{{Auth: &no}}, ""},
		{"csfle", []runOnRequirement{{CSFLE: val(t, `true`)}}, "encryption"},
		{"csfle false", []runOnRequirement{{CSFLE: val(t, `false`)}}, ""},
		{"server parameter matches numerically", []runOnRequirement{{ServerParameters: val(t, `{"enableTestCommands": 1}`).Document()}}, ""},
		{"auth mechanism, any case", []runOnRequirement{{AuthMechanism: "scram-sha-256"}}, ""},
		{"missing auth mechanism", []runOnRequirement{{AuthMechanism: "MONGODB-X509"}}, "needs auth mechanism"},
		{"unknown server parameter", []runOnRequirement{{ServerParameters: val(t, `{"nope": true}`).Document()}}, "not available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, err := facts.unmet(context.Background(), tt.reqs)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSkip == "" && why != "" || tt.wantSkip != "" && !strings.Contains(why, tt.wantSkip) {
				t.Fatalf("skip reason %q, want %q", why, tt.wantSkip)
			}
		})
	}

	_, err := facts.unmet(context.Background(), []runOnRequirement{{Extra: map[string]any{"futureKey": 1}}})
	if err == nil {
		t.Error("an unknown requirement key must fail the test, not skip it")
	}
}
