package spec

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// version is a server or schema version: major, minor, patch.
type version [3]int

// parseVersion accepts "7", "7.0" and "7.0.12"; anything after a '-' (as in
// "4.9.0-alpha4-271-g7d5cf02") is dropped, as the spec requires.
func parseVersion(s string) (version, error) {
	var v version
	s, _, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return v, fmt.Errorf("bad version %q", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("bad version %q", s)
		}
		v[i] = n
	}
	return v, nil
}

func (v version) compare(o version) int {
	for i := range v {
		if v[i] != o[i] {
			if v[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

type runOnRequirement struct {
	MinServerVersion string         `bson:"minServerVersion"`
	MaxServerVersion string         `bson:"maxServerVersion"`
	Topologies       []string       `bson:"topologies"`
	Serverless       string         `bson:"serverless"`
	ServerParameters bson.Raw       `bson:"serverParameters"`
	Auth             *bool          `bson:"auth"`
	AuthMechanism    string         `bson:"authMechanism"`
	CSFLE            bson.RawValue  `bson:"csfle"`
	Extra            map[string]any `bson:",inline"`
}

// serverFacts is what runOnRequirements are evaluated against.
type serverFacts struct {
	version  version
	topology string // "single", "replicaset", "sharded" or "load-balanced"
	auth     bool
	// parameter fetches a server parameter; ok is false if the server does
	// not know it (the spec then treats the requirement as unmet).
	parameter func(ctx context.Context, name string) (v bson.RawValue, ok bool)
}

// unmet returns "" if any of reqs is satisfied (or reqs is empty), and
// otherwise why the first one is not, for the skip message. An error means
// a requirement the runner does not understand, which must not pass as a skip.
func (f serverFacts) unmet(ctx context.Context, reqs []runOnRequirement) (string, error) {
	var first string
	for i, r := range reqs {
		if len(r.Extra) > 0 {
			return "", fmt.Errorf("runOnRequirements: unsupported keys %v", sortedKeys(r.Extra))
		}
		why := f.unmetOne(ctx, r)
		if why == "" {
			return "", nil
		}
		if i == 0 {
			first = why
		}
	}
	return first, nil
}

func (f serverFacts) unmetOne(ctx context.Context, r runOnRequirement) string {
	if r.MinServerVersion != "" {
		min, err := parseVersion(r.MinServerVersion)
		if err != nil || f.version.compare(min) < 0 {
			return fmt.Sprintf("needs server >= %s, have %s", r.MinServerVersion, f.version)
		}
	}
	if r.MaxServerVersion != "" {
		max, err := parseVersion(r.MaxServerVersion)
		if err != nil || f.version.compare(max) > 0 {
			return fmt.Sprintf("needs server <= %s, have %s", r.MaxServerVersion, f.version)
		}
	}
	if len(r.Topologies) > 0 && !f.topologyIn(r.Topologies) {
		return fmt.Sprintf("needs topology %v, have %s", r.Topologies, f.topology)
	}
	if r.Serverless == "require" {
		return "needs Atlas Serverless"
	}
	if r.Auth != nil && *r.Auth != f.auth {
		if *r.Auth {
			return "needs authentication enabled"
		}
		return "needs authentication disabled"
	}
	if r.AuthMechanism != "" && !f.supportsMechanism(ctx, r.AuthMechanism) {
		return fmt.Sprintf("needs auth mechanism %s", r.AuthMechanism)
	}
	if exists(r.CSFLE) {
		if b, ok := r.CSFLE.BooleanOK(); !ok || b {
			// This build of the driver has no libmongocrypt.
			return "needs client-side field level encryption"
		}
	}
	if len(r.ServerParameters) > 0 {
		elems, _ := r.ServerParameters.Elements()
		for _, e := range elems {
			have, ok := f.parameter(ctx, e.Key())
			if !ok {
				return fmt.Sprintf("server parameter %s is not available", e.Key())
			}
			if err := (matcher{}).match(e.Value(), have, false); err != nil {
				return fmt.Sprintf("needs server parameter %s=%s, have %s", e.Key(), e.Value(), have)
			}
		}
	}
	return ""
}

// supportsMechanism looks the mechanism up in the server's
// authenticationMechanisms parameter, case-insensitively.
func (f serverFacts) supportsMechanism(ctx context.Context, mech string) bool {
	v, ok := f.parameter(ctx, "authenticationMechanisms")
	if !ok {
		return false
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return false
	}
	vals, _ := arr.Values()
	for _, m := range vals {
		if s, ok := m.StringValueOK(); ok && strings.EqualFold(s, mech) {
			return true
		}
	}
	return false
}

func (f serverFacts) topologyIn(topologies []string) bool {
	for _, t := range topologies {
		switch {
		case t == f.topology:
			return true
		// Every shard of a supported sharded cluster is a replica set.
		case t == "sharded-replicaset" && f.topology == "sharded":
			return true
		}
	}
	return false
}

// wireToServer maps a hello maxWireVersion to the server release that
// introduced it, for servers that do not answer buildInfo.
var wireToServer = []struct {
	wire    int32
	version version
}{
	{27, version{8, 2, 0}},
	{25, version{8, 0, 0}},
	{21, version{7, 0, 0}},
	{17, version{6, 0, 0}},
	{13, version{5, 0, 0}},
	{9, version{4, 4, 0}},
}

func versionForWire(w int32) (version, bool) {
	for _, e := range wireToServer {
		if w >= e.wire {
			return e.version, true
		}
	}
	return version{}, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
