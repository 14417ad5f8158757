package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/internal/proctest"
	"github.com/mongogate/mongogate/internal/promtest"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// TestHTTPThroughBalancer runs transactions of six REST and Connect calls
// on one token through nginx, an HTTP/1.1 round-robin proxy_pass in front
// of three instances on one backend: the calls land on every instance,
// each forwards to the session's owner, and every transaction commits
// each of its documents exactly once.
func TestHTTPThroughBalancer(t *testing.T) {
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		_, uri = proctest.Emulator(t, bins)
	}
	var servers []*proctest.Server
	var addrs []string
	for i := range 3 {
		s := proctest.StartServer(t, bins, uri, "--instance-id", fmt.Sprintf("mg-web-%d", i))
		servers = append(servers, s)
		addrs = append(addrs, s.Addr)
	}
	lb := "http://" + proctest.NginxHTTP(t, addrs)
	db := testbackend.DBName(t)
	const transactions = 10
	for n := range transactions {
		var started struct {
			Session struct {
				Token string `json:"token"`
			} `json:"session"`
		}
		mustPost(t, lb+"/v1/sessions", `{}`, &started)
		tok := `"sessionToken": "` + started.Session.Token + `"`
		mustPost(t, lb+"/mongogate.v1.TransactionService/StartTransaction", "{"+tok+"}", nil)
		for i := range 3 {
			doc := fmt.Sprintf(`{"_id": {"$numberInt": "%d"}, "txn": %d}`, n*10+i, n)
			if i%2 == 0 {
				mustPost(t, lb+"/v1/databases/"+db+"/collections/lb:insertOne", "{"+tok+`, "document": `+doc+"}", nil)
			} else {
				mustPost(t, lb+"/mongogate.v1.DocumentService/InsertOne",
					"{"+tok+`, "namespace": {"database": "`+db+`", "collection": "lb"}, "document": `+doc+"}", nil)
			}
		}
		var committed struct {
			Committed bool `json:"committed"`
		}
		mustPost(t, lb+"/v1/sessions:commitTransaction", "{"+tok+"}", &committed)
		if !committed.Committed {
			t.Fatalf("transaction %d: not committed", n)
		}
	}
	coll := testbackend.Client(t, uri).Database(db).Collection("lb")
	for n := range transactions {
		for i := range 3 {
			c, err := coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: n*10 + i}, {Key: "txn", Value: n}})
			if err != nil || c != 1 {
				t.Fatalf("document %d of transaction %d: %d copies (%v), want exactly 1", i, n, c, err)
			}
		}
	}
	if total, err := coll.CountDocuments(context.Background(), bson.D{}); err != nil || total != 3*transactions {
		t.Fatalf("%d documents (%v), want %d", total, err, 3*transactions)
	}
	var forwarded float64
	for _, s := range servers {
		v, _ := promtest.Scrape(t, s.MetricsURL).Value("mongogate_forwarded_calls_total")
		forwarded += v
	}
	if forwarded == 0 {
		t.Fatal("no call was forwarded: the balancer did not spread the transactions' calls")
	}
	t.Logf("%d transactions of 6 calls through nginx; %v calls forwarded to their session's owner", transactions, forwarded)
}

// mustPost posts a JSON body (REST, or Connect on /mongogate.v1 paths)
// and decodes the 200 answer into out.
func mustPost(t *testing.T, url, body string, out any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: HTTP %d %s", url, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %s: %v", url, b, err)
		}
	}
}
