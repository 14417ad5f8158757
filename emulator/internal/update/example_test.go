package update_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/update"
)

func show(d bson.D) string {
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func ExampleCompile() {
	u, err := update.Compile(bson.D{
		{Key: "$set", Value: bson.D{{Key: "b.c", Value: 1}, {Key: "a", Value: "x"}}},
		{Key: "$inc", Value: bson.D{{Key: "n", Value: 2}}},
	}, nil, update.Options{})
	if err != nil {
		panic(err)
	}
	doc := bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 1}}
	out, changed, err := u.Apply(doc, -1, false)
	if err != nil {
		panic(err)
	}
	fmt.Println(show(out), changed)

	// Setting fields to the values they have is no modification.
	same, err := update.Compile(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: "x"}}}}, nil, update.Options{})
	if err != nil {
		panic(err)
	}
	_, changed, _ = same.Apply(out, -1, false)
	fmt.Println(changed)
	// Output:
	// {"_id":1,"n":3,"a":"x","b":{"c":1}} true
	// false
}

func ExampleUpdate_Apply_errors() {
	u, err := update.Compile(bson.D{{Key: "$set", Value: bson.D{{Key: "a.b", Value: 1}}}}, nil, update.Options{})
	if err != nil {
		panic(err)
	}
	_, _, err = u.Apply(bson.D{{Key: "_id", Value: 1}, {Key: "a", Value: 5}}, -1, false)
	e := mongoerr.As(err)
	fmt.Println(e.Code, e.Name)

	_, err = update.Compile(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}, {Key: "$unset", Value: bson.D{{Key: "a.b", Value: 1}}}}, nil, update.Options{})
	e = mongoerr.As(err)
	fmt.Println(e.Code, e.Name)
	// Output:
	// 28 PathNotViable
	// 40 ConflictingUpdateOperators
}

func ExampleUpsertSeed() {
	seed, err := update.UpsertSeed(bson.D{
		{Key: "b.y", Value: 2},
		{Key: "_id", Value: 7},
		{Key: "$and", Value: bson.A{bson.D{{Key: "b.x", Value: bson.D{{Key: "$eq", Value: 1}}}}}},
		{Key: "c", Value: bson.D{{Key: "$gt", Value: 0}}},
	})
	if err != nil {
		panic(err)
	}
	u, err := update.Compile(bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "new", Value: true}}}}, nil, update.Options{})
	if err != nil {
		panic(err)
	}
	doc, _, err := u.Apply(seed, -1, true)
	if err != nil {
		panic(err)
	}
	fmt.Println(show(doc))
	// Output:
	// {"_id":7,"b":{"x":1,"y":2},"new":true}
}
