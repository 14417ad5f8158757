package gateway

import (
	"github.com/mongogate/mongogate/directory"
	"github.com/mongogate/mongogate/sessions"
)

// Sessions is the instance's session registry, for callers that read its
// figures or close it ahead of Shutdown (to see how clients take an
// instance that is shutting down).
func (in *Instance) Sessions() *sessions.Registry { return in.reg }

// Directory is the instance's view of the instance directory: what it
// knows of its peers, alive, dead or gone. It is nil until Serve.
func (in *Instance) Directory() *directory.Directory {
	return in.dir.Load()
}
