package main

import (
	"log/slog"
	"strconv"

	"github.com/mongogate/mongogate/backend"
	"github.com/mongogate/mongogate/gateway"
)

// gatewayConfig is the library's Config for the flags: the flags bound to
// it directly, plus the backends with their options, logging to log.
func (c *config) gatewayConfig(log *slog.Logger) gateway.Config {
	out := c.gw
	out.Logger = log
	out.NoHTTP = !c.http
	out.Backends = []gateway.BackendConfig{c.backendConfig(backend.Default, c.mongoURI)}
	for _, b := range c.backends {
		if b.name == backend.Default {
			out.Backends[0].URI = b.uri
			continue
		}
		out.Backends = append(out.Backends, c.backendConfig(b.name, b.uri))
	}
	return out
}

// backendConfig is backend name at uri with its options: the per-backend
// --backend-option values, else the global defaults.
func (c *config) backendConfig(name, uri string) gateway.BackendConfig {
	return gateway.BackendConfig{
		Name:              name,
		URI:               uri,
		RetryWrites:       c.backendBool(name, "retry_writes", c.retryWrites),
		CausalConsistency: c.backendBool(name, "causal_consistency", c.causal),
		RecordOutcome:     c.backendBool(name, "record_outcome", c.recordOutcome),
	}
}

// backendBool returns the per-backend override of key, or def.
func (c *config) backendBool(name, key string, def bool) bool {
	for _, o := range c.backendOpts {
		if o.backend == name && o.key == key {
			v, _ := strconv.ParseBool(o.value)
			return v
		}
	}
	return def
}
