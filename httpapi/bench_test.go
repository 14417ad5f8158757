package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
	"github.com/mongogate/mongogate/internal/testbackend"
	"github.com/mongogate/mongogate/internal/testkit"
)

// The same FindOne over Connect JSON (net/http, HTTP/1.1) and over gRPC,
// on one served gateway: a quick look at what the HTTP surface costs
// before test/bench's full run measures it.
//
//	go test ./httpapi -run '^$' -bench FindOne -benchmem

// findOneCalls serves a gateway with one document and returns a FindOne
// of it over each protocol.
func findOneCalls(b *testing.B, client *http.Client) (overHTTP, overGRPC func() error) {
	uri := testbackend.URI(b)
	db := testbackend.DBName(b)
	in := mustInstance(b, uri, db, nil)
	if _, err := testbackend.Client(b, uri).Database(db).Collection("users").InsertOne(context.Background(), bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "x"}}); err != nil {
		b.Fatal(err)
	}
	url := in.base + "/mongogate.v1.DocumentService/FindOne"
	body := fmt.Sprintf(`{"namespace":{"database":%q,"collection":"users"},"filter":{"_id":1}}`, db)
	overHTTP = func() error {
		resp, err := client.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	st := testkit.NewStubs(testkit.Dial(b, in.addr))
	req := &pb.FindOneRequest{Namespace: &pb.Namespace{Database: db, Collection: "users"}, Filter: &pb.Document{Value: &pb.Document_Json{Json: `{"_id":1}`}}}
	overGRPC = func() error {
		_, err := st.Docs.FindOne(context.Background(), req)
		return err
	}
	return overHTTP, overGRPC
}

func BenchmarkFindOne(b *testing.B) {
	overHTTP, overGRPC := findOneCalls(b, http.DefaultClient)
	for name, call := range map[string]func() error{"http": overHTTP, "grpc": overGRPC} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFindOneParallel is BenchmarkFindOne with 64 concurrent clients.
func BenchmarkFindOneParallel(b *testing.B) {
	overHTTP, overGRPC := findOneCalls(b, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}})
	for name, call := range map[string]func() error{"http": overHTTP, "grpc": overGRPC} {
		b.Run(name, func(b *testing.B) {
			b.SetParallelism(32)
			b.RunParallel(func(p *testing.PB) {
				for p.Next() {
					if err := call(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
