package expr_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/expr"
)

func ExampleCompile() {
	x, err := expr.Compile(bson.D{{Key: "$concat", Value: bson.A{"$first", " ", "$$suffix"}}})
	if err != nil {
		panic(err)
	}
	v, err := x.Eval(bson.D{{Key: "first", Value: "Ada"}}, map[string]any{"suffix": "Lovelace"})
	fmt.Println(v, err)
	// Output: Ada Lovelace <nil>
}
