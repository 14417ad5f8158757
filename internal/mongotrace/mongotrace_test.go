package mongotrace

import "testing"

func TestHostPort(t *testing.T) {
	tests := []struct {
		connID string
		host   string
		port   int
		ok     bool
	}{
		{"127.0.0.1:27017[-3]", "127.0.0.1", 27017, true},
		{"db.example:27018", "db.example", 27018, true},
		{"[::1]:27017[-12]", "[::1]", 27017, true},
		{"nohost", "", 0, false},
	}
	for _, tt := range tests {
		host, port, ok := hostPort(tt.connID)
		if host != tt.host || port != tt.port || ok != tt.ok {
			t.Errorf("hostPort(%q) = %q, %d, %v; want %q, %d, %v", tt.connID, host, port, ok, tt.host, tt.port, tt.ok)
		}
	}
}
