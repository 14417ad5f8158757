package main

import (
	"log/slog"

	"github.com/mongogate/mongogate/authz"
)

// newAuthorizer loads the --authz rules file; without one it returns nil
// and every principal may use every namespace.
func newAuthorizer(cfg *config, log *slog.Logger) (*authz.Authorizer, error) {
	if cfg.authz == "" {
		return nil, nil
	}
	a, err := authz.New(authz.Config{File: cfg.authz})
	if err != nil {
		return nil, err
	}
	log.Info("mongogate: authorization rules loaded", "file", a.File(), "principals", a.Rules().Principals())
	return a, nil
}

// reloadAuthz reads the rules file again (on SIGHUP, which is caught
// only with --authz). Sessions and
// in-flight calls are untouched; calls authorized from then on see the
// new rules. A file that does not load leaves the previous rules in
// force.
func (a *app) reloadAuthz() {
	r, err := a.authz.Reload()
	if err != nil {
		a.log.Error("mongogate: authorization rules not reloaded; the previous rules stay in force", "file", a.authz.File(), "err", err)
		return
	}
	a.log.Info("mongogate: authorization rules reloaded", "file", a.authz.File(), "principals", r.Principals())
}
