package spec

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// clientURI applies a client entity's uriOptions to the base connection
// string. Going through the URI (rather than ClientOptions setters) gives
// every option the driver's own parsing and validation.
//
// socketTimeoutMS is returned separately: driver v2 no longer has it, so the
// runner emulates it with a dialer (see socketTimeoutDialer).
func clientURI(base string, uriOptions bson.Raw, lowHeartbeat bool) (string, time.Duration, error) {
	prefix, query, _ := strings.Cut(base, "?")
	_, hostsAndPath, ok := strings.Cut(prefix, "://")
	if !ok {
		return "", 0, fmt.Errorf("connection string %q has no scheme", base)
	}
	if !strings.Contains(hostsAndPath, "/") {
		prefix += "/"
	}
	params, err := parseQuery(query)
	if err != nil {
		return "", 0, err
	}
	var socketTimeout time.Duration
	a := argReader{what: "uriOptions"}
	for _, e := range elements(uriOptions) {
		key, v := e.Key(), e.Value()
		if strings.EqualFold(key, "socketTimeoutMS") {
			socketTimeout = time.Duration(a.int64(v)) * time.Millisecond
			continue
		}
		var values []string
		switch v.Type {
		case bson.TypeString:
			values = []string{v.StringValue()}
		case bson.TypeBoolean:
			values = []string{fmt.Sprint(v.Boolean())}
		case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
			values = []string{fmt.Sprint(a.int64(v))}
		case bson.TypeArray: // readPreferenceTags: one tag set per value
			vals, _ := v.Array().Values()
			for _, t := range vals {
				values = append(values, a.str(t))
			}
		default:
			a.fail("unsupported value %s for %s", v, key)
		}
		params.set(key, values)
	}
	if a.err != nil {
		return "", 0, a.err
	}
	// Spec: runners MAY shorten heartbeats for tests that set fail points, so
	// that a client recovers quickly from the errors they cause, but MUST NOT
	// override a heartbeatFrequencyMS the test chose.
	if lowHeartbeat && !params.has("heartbeatFrequencyMS") {
		params.set("heartbeatFrequencyMS", []string{"500"})
	}
	return prefix + "?" + params.encode(), socketTimeout, nil
}

// uriParams is a connection string's query, with option names compared
// case-insensitively as the URI options spec requires.
type uriParams struct{ v url.Values }

func parseQuery(q string) (uriParams, error) {
	v, err := url.ParseQuery(q)
	return uriParams{v}, err
}

func (p uriParams) set(key string, values []string) {
	for k := range p.v {
		if strings.EqualFold(k, key) {
			delete(p.v, k)
		}
	}
	p.v[key] = values
}

func (p uriParams) has(key string) bool {
	for k := range p.v {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

func (p uriParams) encode() string { return p.v.Encode() }

// socketTimeoutDialer emulates the socketTimeoutMS URI option, which driver
// v2 removed: every read on a connection gives up after the timeout, which
// the driver reports as a network timeout, as it did for socketTimeoutMS.
type socketTimeoutDialer struct {
	timeout time.Duration
}

func (d socketTimeoutDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &socketTimeoutConn{Conn: c, timeout: d.timeout}, nil
}

type socketTimeoutConn struct {
	net.Conn
	timeout time.Duration

	mu       sync.Mutex
	deadline time.Time // the read deadline the driver asked for
}

func (c *socketTimeoutConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	d := time.Now().Add(c.timeout)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *socketTimeoutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	// Passed through at once so that a deadline set to interrupt a blocked
	// read (context cancellation) takes effect immediately.
	return c.Conn.SetReadDeadline(t)
}

func (c *socketTimeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}
