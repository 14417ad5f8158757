package query_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/query"
)

func Example() {
	docs := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "tags", Value: bson.A{"a", "b"}}, {Key: "n", Value: int32(5)}},
		{{Key: "_id", Value: int32(2)}, {Key: "tags", Value: bson.A{"b"}}, {Key: "n", Value: int32(3)}},
		{{Key: "_id", Value: int32(3)}, {Key: "tags", Value: bson.A{"c"}}, {Key: "n", Value: int32(9)}},
	}
	filter, err := query.Compile(bson.D{{Key: "tags", Value: "b"}}, query.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	sort, err := query.CompileSort(bson.D{{Key: "n", Value: int32(1)}})
	if err != nil {
		fmt.Println(err)
		return
	}
	proj, err := query.CompileProjection(bson.D{{Key: "tags.$", Value: int32(1)}}, query.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}

	var matched []bson.D
	for _, d := range docs {
		if ok, _ := filter.Match(d); ok {
			matched = append(matched, d)
		}
	}
	sort.SortDocs(matched)
	for _, d := range matched {
		_, elem, _ := filter.MatchElem(d)
		out, err := proj.Apply(d, elem)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(out)
	}
	// Output:
	// {"_id":{"$numberInt":"2"},"tags":["b"]}
	// {"_id":{"$numberInt":"1"},"tags":["b"]}
}

func ExampleCompile_error() {
	_, err := query.Compile(bson.D{{Key: "a", Value: bson.D{{Key: "$in", Value: int32(1)}}}}, query.Options{})
	fmt.Println(err)
	// Output:
	// (BadValue) $in needs an array
}
