package agg_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
)

func ExampleCompile() {
	p, err := agg.Compile(bson.A{
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$kind"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		bson.D{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}}}},
		bson.D{{Key: "$out", Value: "counts"}},
	}, agg.Env{})
	if err != nil {
		panic(err)
	}
	out, err := p.Run([]bson.D{
		{{Key: "kind", Value: "a"}}, {{Key: "kind", Value: "b"}}, {{Key: "kind", Value: "b"}},
	})
	if err != nil {
		panic(err)
	}
	for _, d := range out {
		fmt.Println(d[0].Value, d[1].Value)
	}
	fmt.Println(p.Output.Stage, p.Output.Coll)
	// Output:
	// b 2
	// a 1
	// $out counts
}
