package mongogate_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

func ExampleCollection_Watch() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongogate.New(target) // e.g. "localhost:50051", or a load balancer's address
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	orders := client.Database("example_watch").Collection("orders")

	// Only inserts; a token is valid for the same pipeline only.
	inserts := bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}}}
	cs, err := orders.Watch(ctx, inserts)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close(ctx)

	for _, item := range []string{"tea", "coffee"} {
		if _, err := orders.InsertOne(ctx, bson.D{{Key: "item", Value: item}}); err != nil {
			log.Fatal(err)
		}
	}
	type event struct {
		OperationType string `bson:"operationType"`
		FullDocument  struct {
			Item string `bson:"item"`
		} `bson:"fullDocument"`
	}
	for range 2 {
		if !cs.Next(ctx) {
			log.Fatal(cs.Err())
		}
		var ev event
		if err := cs.Decode(&ev); err != nil {
			log.Fatal(err)
		}
		fmt.Println(ev.OperationType, ev.FullDocument.Item)
	}
	// A program saves the token with what it did with the event; after a
	// restart it resumes from there, through any instance.
	token := cs.ResumeToken()
	cs.Close(ctx)

	if _, err := orders.InsertOne(ctx, bson.D{{Key: "item", Value: "cake"}}); err != nil {
		log.Fatal(err)
	}
	again, err := orders.Watch(ctx, inserts, options.ChangeStream().SetResumeAfter(token))
	if err != nil {
		log.Fatal(err)
	}
	defer again.Close(ctx)
	if !again.Next(ctx) {
		log.Fatal(again.Err())
	}
	var ev event
	if err := again.Decode(&ev); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.OperationType, ev.FullDocument.Item, "(after resuming)")
	// Output:
	// insert tea
	// insert coffee
	// insert cake (after resuming)
}
