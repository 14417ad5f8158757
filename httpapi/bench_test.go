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

func BenchmarkFindOne(b *testing.B) {
	uri := testbackend.URI(b)
	db := "benchhttp"
	in := mustInstance(b, uri, db, nil)
	coll := testbackend.Client(b, uri).Database(db).Collection("users")
	_, _ = coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "x"}})
	url := in.base + "/mongogate.v1.DocumentService/FindOne"
	body := fmt.Sprintf(`{"namespace":{"database":%q,"collection":"users"},"filter":{"_id":1}}`, db)
	b.Run("http", func(b *testing.B) {
		for b.Loop() {
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	})
	st := testkit.NewStubs(testkit.Dial(b, in.addr))
	b.Run("grpc", func(b *testing.B) {
		for b.Loop() {
			_, err := st.Docs.FindOne(context.Background(), &pb.FindOneRequest{Namespace: &pb.Namespace{Database: db, Collection: "users"}, Filter: &pb.Document{Value: &pb.Document_Json{Json: `{"_id":1}`}}})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFindOneParallel is BenchmarkFindOne with 64 concurrent clients.
func BenchmarkFindOneParallel(b *testing.B) {
	uri := testbackend.URI(b)
	db := "benchhttp"
	in := mustInstance(b, uri, db, nil)
	coll := testbackend.Client(b, uri).Database(db).Collection("users")
	_, _ = coll.InsertOne(context.Background(), bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "x"}})
	url := in.base + "/mongogate.v1.DocumentService/FindOne"
	body := fmt.Sprintf(`{"namespace":{"database":%q,"collection":"users"},"filter":{"_id":1}}`, db)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}}
	b.Run("http", func(b *testing.B) {
		b.SetParallelism(32)
		b.RunParallel(func(p *testing.PB) {
			for p.Next() {
				resp, err := client.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		})
	})
	st := testkit.NewStubs(testkit.Dial(b, in.addr))
	b.Run("grpc", func(b *testing.B) {
		b.SetParallelism(32)
		b.RunParallel(func(p *testing.PB) {
			for p.Next() {
				_, err := st.Docs.FindOne(context.Background(), &pb.FindOneRequest{Namespace: &pb.Namespace{Database: db, Collection: "users"}, Filter: &pb.Document{Value: &pb.Document_Json{Json: `{"_id":1}`}}})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
