package authz

import (
	"errors"
	"sync/atomic"
)

// Config names the rules file of an Authorizer.
type Config struct {
	// File is the YAML rules file (see the package comment). Required.
	File string
}

// Authorizer checks accesses against the rules of its file, which it can
// reload while in use. It is safe for concurrent use: a check sees either
// the old rules or the new ones, never a mix.
type Authorizer struct {
	file  string
	rules atomic.Pointer[Rules]
}

// New loads cfg.File.
func New(cfg Config) (*Authorizer, error) {
	if cfg.File == "" {
		return nil, errors.New("authz: no rules file")
	}
	a := &Authorizer{file: cfg.File}
	if _, err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the file again and returns the rules now in force. When
// the file cannot be read or parsed, the rules in force stay as they were
// and the error says why.
func (a *Authorizer) Reload() (*Rules, error) {
	r, err := Load(a.file)
	if err != nil {
		return nil, err
	}
	a.rules.Store(r)
	return r, nil
}

// File is the rules file.
func (a *Authorizer) File() string { return a.file }

// Rules are the rules in force.
func (a *Authorizer) Rules() *Rules { return a.rules.Load() }

// Check is Rules.Check with the rules in force.
func (a *Authorizer) Check(principal string, accesses []Access) error {
	return a.rules.Load().Check(principal, accesses)
}
