package httpapi

import (
	"net/http"
	"slices"
	"strings"
)

// CORS for browsers, following the Fetch standard's CORS protocol and the
// headers Connect and gRPC-Web use (the lists of connectrpc.com/cors).
// Off unless origins are allowed: without these headers a browser refuses
// every cross-origin response.

var (
	// corsAllowHeaders are the request headers a browser may send.
	corsAllowHeaders = []string{
		"Content-Type", "Content-Encoding", "Accept", "Accept-Encoding", "Authorization",
		"Connect-Protocol-Version", "Connect-Timeout-Ms", "Connect-Accept-Encoding", "Connect-Content-Encoding",
		"Grpc-Timeout", "X-Grpc-Web", "X-User-Agent", "Traceparent", "Tracestate", "Baggage",
	}
	// corsExposeHeaders are the response headers a page may read.
	corsExposeHeaders = []string{
		"Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin",
		"Connect-Accept-Encoding", "Connect-Content-Encoding", "Content-Encoding",
	}
)

// corsMaxAge is how long (seconds) a browser may cache a preflight's
// answer.
const corsMaxAge = "7200"

type cors struct {
	any     bool
	origins []string
}

func newCORS(origins []string) *cors {
	c := &cors{}
	for _, o := range origins {
		if o == "*" {
			c.any = true
			continue
		}
		c.origins = append(c.origins, strings.TrimRight(o, "/"))
	}
	return c
}

func (c *cors) allowed(origin string) bool {
	return origin != "" && (c.any || slices.Contains(c.origins, origin))
}

// handle adds the CORS headers of an allowed origin's request, and
// answers its preflight; it reports whether the request was a preflight
// (answered, allowed or not).
func (c *cors) handle(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin != "" {
		h.Add("Vary", "Origin")
	}
	if !c.allowed(origin) {
		if preflight {
			// Without Access-Control-Allow-Origin the browser refuses.
			w.WriteHeader(http.StatusNoContent)
		}
		return preflight
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", strings.Join(corsExposeHeaders, ", "))
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "POST, GET")
	h.Set("Access-Control-Allow-Headers", strings.Join(corsAllowHeaders, ", "))
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}
