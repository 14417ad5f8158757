// Package authz decides which namespaces a principal may read and write.
//
// Rules come from a YAML file that maps each principal, or every principal
// ("*"), to namespace patterns it may read, or read and write:
//
//	principals:
//	  billing:
//	    readWrite: ["billing.*"]         # every collection of database billing
//	    read: ["shared.rates", "app_*.*"]
//	  "*":                               # every principal, besides its own entry
//	    read: ["public.*"]
//
// A pattern is "database.collection"; the first dot separates the two, so
// collection names may contain dots. "*" in either part matches any run of
// characters, including none and dots. readWrite includes read, as
// MongoDB's built-in role readWrite includes the actions of read.
//
// What no rule allows is denied. The databases admin, local and config and
// the system collections (system.*) are MongoDB's own: a pattern covers
// them only where it names them literally, without "*", so "*.*" grants
// neither admin.users nor app.system.views, while "admin.*" grants
// admin.users and "app.system.views" grants that one collection.
//
// Pipelines name namespaces of their own ($lookup, $graphLookup,
// $unionWith, $out, $merge, nested in sub-pipelines); PipelineAccesses
// finds them, so that a caller checks them all before anything runs.
package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Wildcard is the principal key of rules that apply to every principal.
const Wildcard = "*"

// Namespace names a collection in a database. An empty Collection stands
// for every collection of the database, and an empty Database as well for
// every database (a change stream on a database or on the deployment): only
// the pattern "*" covers an empty part, so "app.*" allows reading all of
// app and "*.*" all of the deployment, while "app.orders*" allows neither.
type Namespace struct {
	Database   string
	Collection string
}

func (ns Namespace) String() string { return ns.Database + "." + ns.Collection }

// Action is what an operation does to a namespace.
type Action uint8

const (
	// Read finds, counts or aggregates documents.
	Read Action = iota + 1
	// Write inserts, updates, replaces or deletes documents; a write
	// grant includes reading.
	Write
)

func (a Action) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Access is one action on one namespace that an operation needs.
type Access struct {
	Namespace Namespace
	Action    Action
}

// ErrForbidden is what every DeniedError is (errors.Is).
var ErrForbidden = errors.New("authz: namespace forbidden")

// DeniedError says which access the rules do not allow.
type DeniedError struct {
	Access Access
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("authz: %s on %s is not allowed", e.Access.Action, e.Access.Namespace)
}

func (e *DeniedError) Is(target error) bool { return target == ErrForbidden }

// Rules are parsed authorization rules. They are immutable and safe for
// concurrent use.
type Rules struct {
	principals map[string][]grant
	everyone   []grant
}

// grant is one pattern of a principal's read or readWrite list.
type grant struct {
	database   string
	collection string
	write      bool
}

// file is the YAML document.
type file struct {
	Principals map[string]grants `yaml:"principals"`
}

type grants struct {
	Read      []string `yaml:"read"`
	ReadWrite []string `yaml:"readWrite"`
}

// Load reads and parses the rules file at path.
func Load(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("authz: %s: %w", path, err)
	}
	return r, nil
}

// Parse parses rules in the YAML format of the package comment. Unknown
// keys, a principal listed twice and malformed patterns are errors, and
// so is an empty document: a file caught half-written must not become
// rules that deny everything.
func Parse(b []byte) (*Rules, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f file
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New(`empty: want a "principals:" mapping`)
		}
		return nil, err
	}
	if f.Principals == nil {
		return nil, errors.New(`no "principals:" mapping`)
	}
	r := &Rules{principals: make(map[string][]grant, len(f.Principals))}
	for p, g := range f.Principals {
		if p == "" {
			return nil, errors.New("principal: empty name")
		}
		var list []grant
		for _, lg := range []struct {
			key      string
			patterns []string
			write    bool
		}{{"read", g.Read, false}, {"readWrite", g.ReadWrite, true}} {
			for _, pat := range lg.patterns {
				gr, err := parsePattern(pat, lg.write)
				if err != nil {
					return nil, fmt.Errorf("principal %q: %s: %w", p, lg.key, err)
				}
				list = append(list, gr)
			}
		}
		if p == Wildcard {
			r.everyone = list
		} else {
			r.principals[p] = list
		}
	}
	return r, nil
}

// Database names may not contain these (MongoDB's naming restrictions on
// Unix, https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions);
// the dot cannot occur in the database part anyway.
const badDatabaseChars = "/\\ \"$\x00"

func parsePattern(pat string, write bool) (grant, error) {
	db, coll, ok := strings.Cut(pat, ".")
	switch {
	case !ok && pat == "*":
		return grant{}, fmt.Errorf(`pattern "*": write "*.*" for every collection of every database`)
	case !ok:
		return grant{}, fmt.Errorf("pattern %q: want database.collection, e.g. %q for every collection of %s", pat, pat+".*", pat)
	case db == "" || coll == "":
		return grant{}, fmt.Errorf("pattern %q: want database.collection, both non-empty", pat)
	case strings.ContainsAny(db, badDatabaseChars):
		return grant{}, fmt.Errorf(`pattern %q: a database name has none of / \ space " $ or NUL`, pat)
	case strings.ContainsAny(coll, "$\x00"):
		return grant{}, fmt.Errorf("pattern %q: a collection name has no $ or NUL", pat)
	}
	return grant{database: db, collection: coll, write: write}, nil
}

// Principals is how many principals have rules of their own (the
// wildcard's are not counted).
func (r *Rules) Principals() int { return len(r.principals) }

// Allowed reports whether principal may do a: whether a grant of its own
// or of the wildcard matches a's namespace, with write for Write.
func (r *Rules) Allowed(principal string, a Access) bool {
	return slices.ContainsFunc(r.principals[principal], func(g grant) bool { return g.allows(a) }) ||
		slices.ContainsFunc(r.everyone, func(g grant) bool { return g.allows(a) })
}

// Check returns a *DeniedError for the first access that principal may
// not do, or nil when it may do them all.
func (r *Rules) Check(principal string, accesses []Access) error {
	for _, a := range accesses {
		if !r.Allowed(principal, a) {
			return &DeniedError{Access: a}
		}
	}
	return nil
}

func (g grant) allows(a Access) bool {
	if a.Action == Write && !g.write {
		return false
	}
	ns := a.Namespace
	return matchPart(g.database, ns.Database, reservedDatabase(ns.Database)) &&
		matchPart(g.collection, ns.Collection, systemCollection(ns.Collection))
}

// reservedDatabase: MongoDB's own databases
// (https://www.mongodb.com/docs/manual/reference/local-database/,
// .../config-database/, and admin for users, roles and server commands).
func reservedDatabase(db string) bool {
	return db == "admin" || db == "local" || db == "config"
}

// systemCollection: names MongoDB reserves for internal use, as crud's
// Namespace.Validate refuses them.
func systemCollection(coll string) bool {
	return strings.HasPrefix(coll, "system.") || strings.Contains(coll, ".system.")
}

// matchPart matches one part of a namespace; a reserved name only
// literally.
func matchPart(pattern, name string, reserved bool) bool {
	if reserved {
		return pattern == name
	}
	return glob(pattern, name)
}

// glob reports whether name matches pattern, where "*" matches any run of
// bytes and every other byte only itself. It backtracks only to the last
// star, so it is linear in practice and at worst len(pattern)·len(name).
func glob(pattern, name string) bool {
	p, n := 0, 0
	star, resume := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, resume = p, n
			p++
		case p < len(pattern) && pattern[p] == name[n]:
			p++
			n++
		case star >= 0:
			resume++
			p, n = star+1, resume
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
