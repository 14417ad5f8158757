package spec

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestClientURI(t *testing.T) {
	tests := []struct {
		name          string
		base          string
		uriOptions    string
		lowHeartbeat  bool
		want          url.Values
		socketTimeout time.Duration
	}{
		{
			name: "options are added", base: "mongodb://127.0.0.1:27017/?directConnection=true",
			uriOptions: `{"retryWrites": false, "w": "majority", "appName": "app"}`,
			want:       url.Values{"directConnection": {"true"}, "retryWrites": {"false"}, "w": {"majority"}, "appName": {"app"}},
		},
		{
			name: "test options override the base, whatever the case", base: "mongodb://h:1/db?retryWrites=true",
			uriOptions: `{"retrywrites": false}`,
			want:       url.Values{"retrywrites": {"false"}},
		},
		{
			name: "no path in the base", base: "mongodb://h1:1,h2:2",
			uriOptions: `{"w": 1}`,
			want:       url.Values{"w": {"1"}},
		},
		{
			name: "short heartbeat for fail point tests", base: "mongodb://h:1/",
			uriOptions: `{}`, lowHeartbeat: true,
			want: url.Values{"heartbeatFrequencyMS": {"500"}},
		},
		{
			name: "the test's own heartbeat wins", base: "mongodb://h:1/",
			uriOptions: `{"heartbeatFrequencyMS": 30000}`, lowHeartbeat: true,
			want: url.Values{"heartbeatFrequencyMS": {"30000"}},
		},
		{
			name: "socketTimeoutMS is emulated, not passed on", base: "mongodb://h:1/",
			uriOptions: `{"socketTimeoutMS": 100}`,
			want:       url.Values{}, socketTimeout: 100 * time.Millisecond,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri, st, err := clientURI(tt.base, val(t, tt.uriOptions).Document(), tt.lowHeartbeat)
			if err != nil {
				t.Fatal(err)
			}
			prefix, query, _ := strings.Cut(uri, "?")
			if basePrefix, _, _ := strings.Cut(tt.base, "?"); strings.TrimSuffix(prefix, "/") != strings.TrimSuffix(basePrefix, "/") {
				t.Errorf("hosts changed: %s", uri)
			}
			got, _ := url.ParseQuery(query)
			if got.Encode() != tt.want.Encode() {
				t.Errorf("query %q, want %q", got.Encode(), tt.want.Encode())
			}
			if st != tt.socketTimeout {
				t.Errorf("socket timeout %v, want %v", st, tt.socketTimeout)
			}
		})
	}
}
