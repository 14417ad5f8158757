package mongogate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	mongogate "github.com/mongogate/mongogate/clients/go"
	"github.com/mongogate/mongogate/clients/go/options"
)

func ExampleNew() {
	// Bound every call: the deadline travels to the server.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	client, err := mongogate.New(target) // e.g. "localhost:50051"
	if err != nil {
		log.Fatal(err)
	}
	// Disconnect ends the sessions still held, within ctx. (It runs
	// before cancel: defers run last first.)
	defer func() {
		if err := client.Disconnect(ctx); err != nil {
			log.Print(err)
		}
	}()

	type user struct {
		Name  string `bson:"name"`
		Email string `bson:"email"`
	}
	users := client.Database("example_new").Collection("users")
	_, _ = users.DeleteMany(ctx, bson.D{}) // start from an empty collection
	if _, err := users.InsertOne(ctx, user{Name: "Ada", Email: "ada@example.com"}); err != nil {
		log.Fatal(err)
	}
	var u user
	if err := users.FindOne(ctx, bson.D{{Key: "name", Value: "Ada"}}).Decode(&u); err != nil {
		log.Fatal(err)
	}
	fmt.Println(u.Email)
	// Output: ada@example.com
}

func ExampleClient_UseSession() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongogate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)

	accounts := client.Database("example_bank").Collection("accounts")
	_, _ = accounts.DeleteMany(ctx, bson.D{})
	if _, err := accounts.InsertMany(ctx, []bson.D{
		{{Key: "_id", Value: "alice"}, {Key: "balance", Value: 100}},
		{{Key: "_id", Value: "bob"}, {Key: "balance", Value: 0}},
	}); err != nil {
		log.Fatal(err)
	}

	// Move 30 from alice to bob atomically. The session ends when the
	// function returns, even if it fails or panics; WithTransaction reruns
	// the transaction on transient errors and recommits on an unknown
	// commit result.
	err = client.UseSession(ctx, func(ctx context.Context) error {
		s := mongogate.SessionFromContext(ctx)
		_, err := s.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			move := func(id string, amount int) error {
				_, err := accounts.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
					bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: amount}}}})
				return err
			}
			if err := move("alice", -30); err != nil {
				return nil, err
			}
			return nil, move("bob", 30)
		})
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	cur, err := accounts.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		log.Fatal(err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		fmt.Println(cur.Current.Lookup("_id").StringValue(), cur.Current.Lookup("balance").AsInt64())
	}
	if err := cur.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// alice 70
	// bob 30
}

func ExampleSession_StartTransaction() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongogate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	orders := client.Database("example_orders").Collection("orders")
	_, _ = orders.DeleteMany(ctx, bson.D{})

	s, err := client.StartSession(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer s.End(ctx)

	if err := s.StartTransaction(ctx, options.Transaction().SetWriteConcern(options.Majority())); err != nil {
		log.Fatal(err)
	}
	// Operations whose context carries the session run in its transaction.
	sctx := mongogate.NewSessionContext(ctx, s)
	if _, err := orders.InsertOne(sctx, bson.D{{Key: "item", Value: "book"}}); err != nil {
		_ = s.AbortTransaction(ctx)
		log.Fatal(err)
	}
	inside, _ := orders.CountDocuments(sctx, nil)
	outside, _ := orders.CountDocuments(ctx, nil)
	fmt.Println("before commit:", inside, "inside,", outside, "outside")

	if err := s.CommitTransaction(ctx); err != nil {
		// On ErrUnknownCommitResult, committing again is safe.
		log.Fatal(err)
	}
	outside, _ = orders.CountDocuments(ctx, nil)
	fmt.Println("after commit:", outside)
	// Output:
	// before commit: 1 inside, 0 outside
	// after commit: 1
}

func ExampleError() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := mongogate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	users := client.Database("example_errors").Collection("users")
	_, _ = users.DeleteMany(ctx, bson.D{})

	doc := bson.D{{Key: "_id", Value: "ada"}}
	_, _ = users.InsertOne(ctx, doc)
	_, err = users.InsertOne(ctx, doc)

	// Branch on the kind of error, never on its text.
	fmt.Println(errors.Is(err, mongogate.ErrDuplicateKey))
	var e *mongogate.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Reason, e.MongoCode)
	}

	err = users.FindOne(ctx, bson.D{{Key: "_id", Value: "grace"}}).Err()
	fmt.Println(errors.Is(err, mongogate.ErrNoDocuments))
	// Output:
	// true
	// AlreadyExists DUPLICATE_KEY 11000
	// true
}

func ExampleCollection_Aggregate() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	client, err := mongogate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	sales := client.Database("example_sales").Collection("sales")
	_, _ = sales.DeleteMany(ctx, bson.D{})
	if _, err := sales.InsertMany(ctx, []bson.D{
		{{Key: "item", Value: "pen"}, {Key: "qty", Value: 3}},
		{{Key: "item", Value: "ink"}, {Key: "qty", Value: 1}},
		{{Key: "item", Value: "pen"}, {Key: "qty", Value: 4}},
	}); err != nil {
		log.Fatal(err)
	}

	cur, err := sales.Aggregate(ctx, []bson.D{
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$item"}, {Key: "total", Value: bson.D{{Key: "$sum", Value: "$qty"}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	var totals []struct {
		Item  string `bson:"_id"`
		Total int    `bson:"total"`
	}
	if err := cur.All(ctx, &totals); err != nil {
		log.Fatal(err)
	}
	for _, t := range totals {
		fmt.Println(t.Item, t.Total)
	}
	// Output:
	// ink 1
	// pen 7
}

func ExampleClient_RunTransaction() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := mongogate.New(target)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db := client.Database("example_run")
	accounts, ledger := db.Collection("accounts"), db.Collection("ledger")
	_, _ = accounts.DeleteMany(ctx, bson.D{})
	_, _ = ledger.DeleteMany(ctx, bson.D{})
	if _, err := accounts.InsertMany(ctx, []bson.D{
		{{Key: "_id", Value: "alice"}, {Key: "balance", Value: 100}},
		{{Key: "_id", Value: "bob"}, {Key: "balance", Value: 0}},
	}); err != nil {
		log.Fatal(err)
	}
	if _, err := ledger.InsertOne(ctx, bson.D{{Key: "_id", Value: "opening"}}); err != nil {
		log.Fatal(err)
	}

	// Writes known up front go in one round trip; the server retries the
	// transaction on transient errors, as Session.WithTransaction does.
	move := func(id string, amount int) mongogate.TxnOp {
		return accounts.UpdateOneOp(bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$inc", Value: bson.D{{Key: "balance", Value: amount}}}})
	}
	res, err := client.RunTransaction(ctx, []mongogate.TxnOp{
		move("alice", -30),
		move("bob", 30),
		ledger.InsertOneOp(bson.D{{Key: "_id", Value: "t1"}, {Key: "amount", Value: 30}}),
		accounts.FindOneOp(bson.D{{Key: "_id", Value: "alice"}}),
	}, options.RunTransaction().SetWriteConcern(options.Majority()))
	if err != nil {
		var e *mongogate.Error
		if errors.As(err, &e) {
			if i, ok := e.OperationIndex(); ok {
				log.Fatalf("operation %d failed: %v", i, err)
			}
		}
		log.Fatal(err)
	}
	// Each result has the type of its single-operation counterpart.
	fmt.Println("bob matched:", res.Results[1].(*mongogate.UpdateResult).MatchedCount)
	fmt.Println("ledger entry:", res.Results[2].(*mongogate.InsertOneResult).InsertedID)
	var alice struct {
		Balance int `bson:"balance"`
	}
	if err := res.Results[3].(*mongogate.SingleResult).Decode(&alice); err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice's balance:", alice.Balance)
	// Output:
	// bob matched: 1
	// ledger entry: t1
	// alice's balance: 70
}
