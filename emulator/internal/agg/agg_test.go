package agg

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
)

var (
	one   = int32(1)
	two   = int32(2)
	three = int32(3)
)

// TestSpecPipelines covers the pipelines MongoDB's unified CRUD, session
// and transaction tests send.
func TestSpecPipelines(t *testing.T) {
	coll := docs(doc("_id", one, "x", int32(11)), doc("_id", two, "x", int32(22)), doc("_id", three, "x", int32(33)))
	env := testEnv(nil, map[string]any{"id": one, "x": "foo", "y": "$bar", "rand": 0.5})
	runPipeCases(t, env, []pipeCase{
		{name: "match and count", stages: bson.A{st("$match", doc("_id", 1)), st("$count", "count")}, input: coll,
			want: docs(doc("count", one))},
		{name: "count of nothing is no document", stages: bson.A{st("$match", doc("_id", 9)), st("$count", "count")}, input: coll,
			want: nil},
		{name: "countDocuments group", stages: bson.A{st("$match", bson.D{}), st("$group", doc("_id", 1, "n", doc("$sum", 1)))}, input: coll,
			want: docs(doc("_id", one, "n", three))},
		{name: "project id", stages: bson.A{st("$project", doc("_id", 1))}, input: coll[:1],
			want: docs(doc("_id", one))},
		{name: "let variables", stages: bson.A{
			st("$match", doc("$expr", doc("$eq", bson.A{"$_id", "$$id"}))),
			st("$project", doc("_id", 0, "x", "$$x", "y", "$$y", "rand", "$$rand")),
		}, input: coll, want: docs(doc("x", "foo", "y", "$bar", "rand", 0.5))},
		{name: "sort desc and limit", stages: bson.A{st("$sort", doc("x", -1)), st("$limit", 2)}, input: coll,
			want: docs(coll[2], coll[1])},
		{name: "update pipeline replaceWith setField", stages: bson.A{
			st("$replaceWith", doc("$setField", doc("field", doc("$literal", "$a"), "value", 1, "input", "$$ROOT"))),
		}, input: docs(doc("_id", one, "foo", bson.D{})), want: docs(doc("_id", one, "foo", bson.D{}, "$a", one))},
		{name: "update pipeline set embedded setField", stages: bson.A{
			st("$set", doc("foo", doc("$setField", doc("field", doc("$literal", "a.b"), "value", 1, "input", "$foo")))),
		}, input: docs(doc("_id", one, "foo", bson.D{})), want: docs(doc("_id", one, "foo", doc("a.b", one)))},
		{name: "update pipeline project then addFields", stages: bson.A{st("$project", doc("x", 1)), st("$addFields", doc("foo", 1))},
			input: docs(doc("_id", one, "x", one, "y", two)), want: docs(doc("_id", one, "x", one, "foo", one))},
		{name: "update pipeline replaceRoot", stages: bson.A{st("$replaceRoot", doc("newRoot", "$t")), st("$addFields", doc("foo", 1))},
			input: docs(doc("_id", one, "t", doc("u", one))), want: docs(doc("u", one, "foo", one))},
		{name: "update pipeline set from variable", stages: bson.A{st("$set", doc("x", "$$x"))},
			input: docs(doc("_id", one)), want: docs(doc("_id", one, "x", "foo"))},
	})
}

func TestSourceStagesAndOutput(t *testing.T) {
	sessions := func(bson.D) ([]bson.D, error) {
		return docs(doc("_id", doc("id", "s1")), doc("_id", doc("id", "s2"))), nil
	}
	env := testEnv(nil, nil)
	env.LocalSessions = sessions

	p, err := Compile(bson.A{
		st("$listLocalSessions", bson.D{}), st("$limit", 1), st("$addFields", doc("dummy", "dummy field")),
		st("$project", doc("_id", 0, "dummy", 1)),
	}, env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "$listLocalSessions" || p.Output != nil {
		t.Fatalf("Source %q Output %v", p.Source, p.Output)
	}
	got, err := p.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if render(got) != render(docs(doc("dummy", "dummy field"))) {
		t.Fatalf("got %s", render(got))
	}

	p, err = Compile(bson.A{st("$documents", bson.A{doc("_id", 2, "x", 1)}), st("$merge", doc("into", "test", "whenMatched", "fail"))}, env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "$documents" || p.Output == nil || p.Output.Stage != "$merge" || p.Output.Coll != "test" || p.Output.DB != "" {
		t.Fatalf("pipeline %+v output %+v", p, p.Output)
	}
	if wm, _ := p.Output.Spec[1].Value.(string); wm != "fail" {
		t.Fatalf("Spec %v", p.Output.Spec)
	}
	got, err = p.Run(nil)
	if err != nil {
		t.Fatal(err)
	}
	if render(got) != render(docs(doc("_id", two, "x", one))) {
		t.Fatalf("got %s", render(got))
	}

	outputs := []struct {
		name     string
		stage    bson.D
		db, coll string
	}{
		{"out string", st("$out", "coll1"), "", "coll1"},
		{"out object", st("$out", doc("db", "other", "coll", "c")), "other", "c"},
		{"merge string", st("$merge", "coll0"), "", "coll0"},
		{"merge into object", st("$merge", doc("into", doc("db", "d", "coll", "c"), "on", "_id", "whenNotMatched", "discard")), "d", "c"},
	}
	for _, o := range outputs {
		t.Run(o.name, func(t *testing.T) {
			p, err := Compile(bson.A{st("$match", bson.D{}), o.stage}, env)
			if err != nil {
				t.Fatal(err)
			}
			if p.Output == nil || p.Output.Stage != o.stage[0].Key || p.Output.DB != o.db || p.Output.Coll != o.coll {
				t.Fatalf("Output %+v", p.Output)
			}
		})
	}
}

func TestStageErrors(t *testing.T) {
	env := testEnv(map[string][]bson.D{"other": nil}, nil)
	runPipeCases(t, env, []pipeCase{
		{name: "unknown stage", stages: bson.A{st("$foo", 1)}, code: 40324},
		{name: "unsupported stage", stages: bson.A{st("$graphLookup", bson.D{})}, code: mongoerr.NotImplemented},
		{name: "stage not object", stages: bson.A{"x"}, code: mongoerr.TypeMismatch},
		{name: "stage with two fields", stages: bson.A{doc("$match", bson.D{}, "$limit", 1)}, code: 40323},
		{name: "empty stage", stages: bson.A{bson.D{}}, code: 40323},
		{name: "out not last", stages: bson.A{st("$out", "c"), st("$match", bson.D{})}, code: 40601},
		{name: "merge not last", stages: bson.A{st("$merge", "c"), st("$match", bson.D{})}, code: 40601},
		{name: "out in facet", stages: bson.A{st("$facet", doc("a", bson.A{st("$out", "c")}))}, code: 40600},
		{name: "facet in facet", stages: bson.A{st("$facet", doc("a", bson.A{st("$facet", doc("b", bson.A{st("$limit", 1)}))}))}, code: 40600},
		{name: "out in lookup", stages: bson.A{st("$lookup", doc("from", "other", "as", "x", "pipeline", bson.A{st("$out", "c")}))}, code: 51047},
		{name: "documents not first", stages: bson.A{st("$match", bson.D{}), st("$documents", bson.A{})}, code: 40602},
		{name: "out bad type", stages: bson.A{st("$out", 1)}, code: 16990},
		{name: "out missing coll", stages: bson.A{st("$out", doc("db", "x"))}, code: 40414},
		{name: "out unknown field", stages: bson.A{st("$out", doc("coll", "x", "y", "z"))}, code: 40415},
		{name: "merge bad whenMatched", stages: bson.A{st("$merge", doc("into", "c", "whenMatched", "nope"))}, code: mongoerr.BadValue},
		{name: "merge bad whenNotMatched", stages: bson.A{st("$merge", doc("into", "c", "whenNotMatched", "nope"))}, code: mongoerr.BadValue},
		{name: "merge unknown field", stages: bson.A{st("$merge", doc("into", "c", "x", 1))}, code: 40415},
		{name: "merge missing into", stages: bson.A{st("$merge", doc("on", "_id"))}, code: 40414},
		{name: "match not object", stages: bson.A{st("$match", 1)}, code: 15959},
		{name: "skip not number", stages: bson.A{st("$skip", "x")}, code: 15972},
		{name: "skip negative", stages: bson.A{st("$skip", -1)}, code: 15956},
		{name: "limit not number", stages: bson.A{st("$limit", "x")}, code: 15957},
		{name: "limit zero", stages: bson.A{st("$limit", 0)}, code: 15958},
		{name: "count empty", stages: bson.A{st("$count", "")}, code: 40156},
		{name: "count not string", stages: bson.A{st("$count", 1)}, code: 40156},
		{name: "count dollar", stages: bson.A{st("$count", "$x")}, code: 40158},
		{name: "count dot", stages: bson.A{st("$count", "a.b")}, code: 40160},
		{name: "sort not object", stages: bson.A{st("$sort", 1)}, code: 15973},
		{name: "sort empty", stages: bson.A{st("$sort", bson.D{})}, code: 15976},
		{name: "sort bad direction", stages: bson.A{st("$sort", doc("a", 2))}, code: 15975},
		{name: "sort non-numeric direction", stages: bson.A{st("$sort", doc("a", "asc"))}, code: 15974},
		{name: "sample not object", stages: bson.A{st("$sample", 1)}, code: 28745},
		{name: "sample bad size", stages: bson.A{st("$sample", doc("size", "x"))}, code: 28746},
		{name: "sample negative", stages: bson.A{st("$sample", doc("size", -1))}, code: 28747},
		{name: "sample unknown", stages: bson.A{st("$sample", doc("size", 1, "x", 1))}, code: 28748},
		{name: "sample no size", stages: bson.A{st("$sample", bson.D{})}, code: 28749},
		{name: "replaceRoot not object", stages: bson.A{st("$replaceRoot", 1)}, code: 40229},
		{name: "replaceRoot no newRoot", stages: bson.A{st("$replaceRoot", bson.D{})}, code: 40414},
		{name: "replaceRoot unknown", stages: bson.A{st("$replaceRoot", doc("newRoot", "$a", "x", 1))}, code: 40415},
		{name: "replaceRoot result not object", stages: bson.A{st("$replaceRoot", doc("newRoot", "$a"))}, input: docs(doc("a", 1)), code: 40228},
		{name: "replaceWith missing", stages: bson.A{st("$replaceWith", "$nope")}, input: docs(doc("a", 1)), code: 40228},
		{name: "facet empty", stages: bson.A{st("$facet", bson.D{})}, code: 40169},
		{name: "facet not array", stages: bson.A{st("$facet", doc("a", 1))}, code: 40170},
		{name: "facet bad element", stages: bson.A{st("$facet", doc("a", bson.A{1}))}, code: 40171},
		{name: "facet empty pipeline", stages: bson.A{st("$facet", doc("a", bson.A{}))}, code: 40172},
		{name: "expression error surfaces", stages: bson.A{st("$addFields", doc("a", doc("$foo", 1)))}, code: mongoerr.InvalidPipelineOperator},
		{name: "runtime expression error", stages: bson.A{st("$addFields", doc("a", doc("$divide", bson.A{1, 0})))}, input: docs(doc("_id", 1)), code: 16608},
		{name: "listLocalSessions without sessions", stages: bson.A{st("$listLocalSessions", bson.D{})}, code: mongoerr.NotImplemented},
	})
}

func TestProject(t *testing.T) {
	in := docs(doc("_id", one, "a", doc("b", one, "c", two), "d", "x", "arr", bson.A{doc("b", one, "c", two), int32(5), bson.A{doc("b", three)}}))
	runPipeCases(t, testEnv(nil, nil), []pipeCase{
		{name: "inclusion keeps document order and _id", stages: bson.A{st("$project", doc("d", 1, "a", true))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one, "c", two), "d", "x"))},
		{name: "exclude _id", stages: bson.A{st("$project", doc("d", 1, "_id", 0))}, input: in, want: docs(doc("d", "x"))},
		{name: "only _id exclusion", stages: bson.A{st("$project", doc("_id", 0))}, input: in,
			want: docs(doc("a", doc("b", one, "c", two), "d", "x", "arr", in[0][3].Value))},
		{name: "exclusion", stages: bson.A{st("$project", doc("a.b", 0, "arr", 0))}, input: in,
			want: docs(doc("_id", one, "a", doc("c", two), "d", "x"))},
		{name: "dotted inclusion through arrays", stages: bson.A{st("$project", doc("arr.b", 1, "_id", 0))}, input: in,
			want: docs(doc("arr", bson.A{doc("b", one), bson.A{doc("b", three)}}))},
		{name: "nested object spec equals dotted", stages: bson.A{st("$project", doc("a", doc("c", 1)))}, input: in,
			want: docs(doc("_id", one, "a", doc("c", two)))},
		{name: "exclusion through arrays keeps scalars", stages: bson.A{st("$project", doc("arr.b", 0, "a", 0, "d", 0))}, input: in,
			want: docs(doc("_id", one, "arr", bson.A{doc("c", two), int32(5), bson.A{bson.D{}}}))},
		{name: "computed fields after included ones", stages: bson.A{st("$project", doc("z", "$d", "d", 1, "lit", "text", "n", doc("$add", bson.A{1, 1})))}, input: in,
			want: docs(doc("_id", one, "d", "x", "z", "x", "lit", "text", "n", two))},
		{name: "computed missing is absent", stages: bson.A{st("$project", doc("z", "$nope", "_id", 0, "d", 1))}, input: in,
			want: docs(doc("d", "x"))},
		{name: "computed nested new path", stages: bson.A{st("$project", doc("p.q", "$d", "_id", 0))}, input: in,
			want: docs(doc("p", doc("q", "x")))},
		{name: "computed inside existing subdocument", stages: bson.A{st("$project", doc("a.b", 1, "a.z", "$d"))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one, "z", "x")))},
		{name: "computed _id", stages: bson.A{st("$project", doc("_id", "$d"))}, input: in, want: docs(doc("_id", "x"))},
		{name: "computed _id stays first", stages: bson.A{st("$project", doc("d", 1, "_id", "$a.b"))}, input: in, want: docs(doc("_id", one, "d", "x"))},
		{name: "remove variable", stages: bson.A{st("$project", doc("d", "$$REMOVE", "a", 1))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one, "c", two)))},
		{name: "exclusion then inclusion", stages: bson.A{st("$project", doc("a", 0, "d", 1))}, code: 31253},
		{name: "inclusion then exclusion", stages: bson.A{st("$project", doc("a", 1, "d", 0))}, code: 31254},
		{name: "expression in exclusion", stages: bson.A{st("$project", doc("a", 0, "d", "$x"))}, code: 31252},
		{name: "same path twice", stages: bson.A{st("$project", doc("a", 1, "a", 1))}, code: 31250},
		{name: "parent then child", stages: bson.A{st("$project", doc("a", 1, "a.b", 1))}, code: 31249},
		{name: "child then parent", stages: bson.A{st("$project", doc("a.b", 1, "a", 1))}, code: 31250},
		{name: "empty", stages: bson.A{st("$project", bson.D{})}, code: 51272},
		{name: "empty sub-projection", stages: bson.A{st("$project", doc("a", bson.D{}))}, code: 51270},
		{name: "dollar field", stages: bson.A{st("$project", doc("$a", 1))}, code: 16410},
		{name: "not object", stages: bson.A{st("$project", 1)}, code: 15969},
		{name: "empty path segment", stages: bson.A{st("$project", doc("a..b", 1))}, code: 15998},
	})
}

func TestAddFieldsAndUnset(t *testing.T) {
	in := docs(doc("_id", one, "a", doc("b", one), "arr", bson.A{doc("x", one), int32(5)}, "s", "v"))
	runPipeCases(t, testEnv(nil, nil), []pipeCase{
		{name: "add and replace in place", stages: bson.A{st("$addFields", doc("s", "new", "t", "$s"))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", in[0][2].Value, "s", "new", "t", "v"))},
		{name: "expressions see the input document", stages: bson.A{st("$set", doc("s", "changed", "t", "$s"))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", in[0][2].Value, "s", "changed", "t", "v"))},
		{name: "nested object merges", stages: bson.A{st("$addFields", doc("a", doc("c", 2)))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one, "c", two), "arr", in[0][2].Value, "s", "v"))},
		{name: "dotted path", stages: bson.A{st("$set", doc("a.c.d", 2))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one, "c", doc("d", two)), "arr", in[0][2].Value, "s", "v"))},
		{name: "dotted path over array", stages: bson.A{st("$set", doc("arr.y", 2))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", bson.A{doc("x", one, "y", two), doc("y", two)}, "s", "v"))},
		{name: "dotted path over scalar", stages: bson.A{st("$set", doc("s.y", 2))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", in[0][2].Value, "s", doc("y", two)))},
		{name: "remove", stages: bson.A{st("$addFields", doc("s", "$$REMOVE"))}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", in[0][2].Value))},
		{name: "empty nested object is a literal", stages: bson.A{st("$addFields", doc("e", bson.D{}))}, input: docs(doc("_id", one)),
			want: docs(doc("_id", one, "e", bson.D{}))},
		{name: "not object", stages: bson.A{st("$addFields", 1)}, code: 40272},
		{name: "dollar field", stages: bson.A{st("$set", doc("$a", 1))}, code: 16410},
		{name: "collision", stages: bson.A{st("$set", doc("a", 1, "a.b", 2))}, code: 31249},
		{name: "unset string", stages: bson.A{st("$unset", "s")}, input: in,
			want: docs(doc("_id", one, "a", doc("b", one), "arr", in[0][2].Value))},
		{name: "unset array of paths", stages: bson.A{st("$unset", bson.A{"a.b", "arr.x", "_id"})}, input: in,
			want: docs(doc("a", bson.D{}, "arr", bson.A{bson.D{}, int32(5)}, "s", "v"))},
		{name: "unset bad type", stages: bson.A{st("$unset", 1)}, code: 31002},
		{name: "unset empty", stages: bson.A{st("$unset", bson.A{})}, code: 31119},
		{name: "unset non-string", stages: bson.A{st("$unset", bson.A{"a", 1})}, code: 31120},
	})
}

func TestSort(t *testing.T) {
	a := doc("_id", one, "v", bson.A{int32(5), int32(1)}, "w", "b")
	b := doc("_id", two, "v", int32(3), "w", "a")
	c := doc("_id", three, "w", "a")
	d := doc("_id", int32(4), "v", bson.A{}, "w", "c")
	e := doc("_id", int32(5), "v", nil, "w", "c")
	runPipeCases(t, testEnv(nil, nil), []pipeCase{
		{name: "ascending uses smallest element, empty array first", stages: bson.A{st("$sort", doc("v", 1))}, input: docs(a, b, c, d, e),
			want: docs(d, c, e, a, b)},
		{name: "descending uses largest element", stages: bson.A{st("$sort", doc("v", -1))}, input: docs(a, b, c, d, e),
			want: docs(a, b, c, e, d)},
		{name: "compound and stable", stages: bson.A{st("$sort", doc("w", 1, "_id", -1))}, input: docs(a, b, c, d, e),
			want: docs(c, b, a, e, d)},
		{name: "stable for ties", stages: bson.A{st("$sort", doc("w", 1))}, input: docs(e, d, c, b, a),
			want: docs(c, b, a, e, d)},
		{name: "skip and limit", stages: bson.A{st("$sort", doc("_id", 1)), st("$skip", 1), st("$limit", 2.0)}, input: docs(e, d, c, b, a),
			want: docs(b, c)},
		{name: "skip everything", stages: bson.A{st("$skip", int64(10))}, input: docs(a, b), want: nil},
	})
}

func TestGroup(t *testing.T) {
	in := docs(
		doc("_id", one, "k", "a", "n", int32(1), "o", doc("x", one), "t", "p"),
		doc("_id", two, "k", "b", "n", int32(5), "o", doc("y", one)),
		doc("_id", three, "k", "a", "n", 2.5, "t", "q"),
		doc("_id", int32(4), "n", "str", "t", "p"),
	)
	runPipeCases(t, testEnv(nil, nil), []pipeCase{
		{name: "accumulators", stages: bson.A{st("$group", doc(
			"_id", "$k",
			"sum", doc("$sum", "$n"), "count", doc("$count", bson.D{}), "avg", doc("$avg", "$n"),
			"min", doc("$min", "$n"), "max", doc("$max", "$n"), "first", doc("$first", "$t"), "last", doc("$last", "$t"),
			"push", doc("$push", "$t"), "set", doc("$addToSet", "$t"), "merged", doc("$mergeObjects", "$o"),
		))}, input: in, want: docs(
			doc("_id", "a", "sum", 3.5, "count", two, "avg", 1.75, "min", one, "max", 2.5, "first", "p", "last", "q",
				"push", bson.A{"p", "q"}, "set", bson.A{"p", "q"}, "merged", doc("x", one)),
			doc("_id", "b", "sum", int32(5), "count", one, "avg", 5.0, "min", int32(5), "max", int32(5), "first", nil, "last", nil,
				"push", bson.A{}, "set", bson.A{}, "merged", doc("y", one)),
			doc("_id", nil, "sum", int32(0), "count", one, "avg", nil, "min", "str", "max", "str", "first", "p", "last", "p",
				"push", bson.A{"p"}, "set", bson.A{"p"}, "merged", bson.D{}),
		)},
		{name: "null id groups everything", stages: bson.A{st("$group", doc("_id", nil, "n", doc("$sum", 1)))}, input: in,
			want: docs(doc("_id", nil, "n", int32(4)))},
		{name: "object id", stages: bson.A{st("$group", doc("_id", doc("k", "$k", "t", "$t")))}, input: in,
			want: docs(doc("_id", doc("k", "a", "t", "p")), doc("_id", doc("k", "b")), doc("_id", doc("k", "a", "t", "q")), doc("_id", doc("t", "p")))},
		{name: "numeric keys group across types", stages: bson.A{st("$group", doc("_id", "$v"))}, input: docs(doc("v", int32(1)), doc("v", 1.0), doc("v", int64(1))),
			want: docs(doc("_id", int32(1)))},
		{name: "stdDev", stages: bson.A{st("$group", doc("_id", nil, "p", doc("$stdDevPop", "$n")))}, input: docs(doc("n", 2), doc("n", 4)),
			want: docs(doc("_id", nil, "p", 1.0))},
		{name: "not object", stages: bson.A{st("$group", 1)}, code: 15947},
		{name: "no _id", stages: bson.A{st("$group", doc("n", doc("$sum", 1)))}, code: 15955},
		{name: "field not accumulator", stages: bson.A{st("$group", doc("_id", nil, "n", 1))}, code: 40234},
		{name: "dotted field", stages: bson.A{st("$group", doc("_id", nil, "a.b", doc("$sum", 1)))}, code: 40235},
		{name: "dollar field", stages: bson.A{st("$group", doc("_id", nil, "$a", doc("$sum", 1)))}, code: 40236},
		{name: "unary accumulator", stages: bson.A{st("$group", doc("_id", nil, "n", doc("$sum", bson.A{1, 2})))}, code: 40237},
		{name: "two accumulators", stages: bson.A{st("$group", doc("_id", nil, "n", doc("$sum", 1, "$avg", 1)))}, code: 40238},
		{name: "unknown accumulator", stages: bson.A{st("$group", doc("_id", nil, "n", doc("$foo", 1)))}, code: 15952},
		{name: "unsupported accumulator", stages: bson.A{st("$group", doc("_id", nil, "n", doc("$topN", bson.D{})))}, code: mongoerr.NotImplemented},
		{name: "sortByCount", stages: bson.A{st("$sortByCount", "$t")}, input: in,
			want: docs(doc("_id", "p", "count", two), doc("_id", nil, "count", one), doc("_id", "q", "count", one))},
		{name: "sortByCount bad string", stages: bson.A{st("$sortByCount", "t")}, code: 40148},
		{name: "sortByCount bad type", stages: bson.A{st("$sortByCount", 1)}, code: 40149},
		{name: "bucket", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{0, 2, 10}, "default", "other"))}, input: in,
			want: docs(doc("_id", int32(0), "count", one), doc("_id", int32(2), "count", two), doc("_id", "other", "count", one))},
		{name: "bucket output", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{0, 10}, "output", doc("ids", doc("$push", "$_id"))))}, input: in[:3],
			want: docs(doc("_id", int32(0), "ids", bson.A{one, two, three}))},
		{name: "bucket no default", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{0, 2}))}, input: in, code: 40066},
		{name: "bucket unsorted", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{2, 1}))}, code: 40194},
		{name: "bucket mixed types", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{1, "a"}))}, code: 40193},
		{name: "bucket too few", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{1}))}, code: 40192},
		{name: "bucket default inside", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{1, 5}, "default", 2))}, code: 40199},
		{name: "bucket missing groupBy", stages: bson.A{st("$bucket", doc("boundaries", bson.A{1, 5}))}, code: 40198},
		{name: "bucket unknown", stages: bson.A{st("$bucket", doc("x", 1))}, code: 40197},
		{name: "bucket not object", stages: bson.A{st("$bucket", 1)}, code: 40201},
		{name: "bucket bad groupBy", stages: bson.A{st("$bucket", doc("groupBy", "n", "boundaries", bson.A{1, 5}))}, code: 40202},
		{name: "bucket boundaries not array", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", 1))}, code: 40200},
		{name: "bucket output not object", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{1, 5}, "output", 1))}, code: 40196},
		{name: "bucket default not constant", stages: bson.A{st("$bucket", doc("groupBy", "$n", "boundaries", bson.A{1, 5}, "default", "$x"))}, code: 40195},
	})
}

func TestUnwind(t *testing.T) {
	in := docs(
		doc("_id", one, "a", bson.A{"x", "y"}),
		doc("_id", two, "a", bson.A{}),
		doc("_id", three, "a", nil),
		doc("_id", int32(4)),
		doc("_id", int32(5), "a", "scalar"),
		doc("_id", int32(6), "n", doc("a", bson.A{one})),
	)
	runPipeCases(t, testEnv(nil, nil), []pipeCase{
		{name: "string form", stages: bson.A{st("$unwind", "$a")}, input: in,
			want: docs(doc("_id", one, "a", "x"), doc("_id", one, "a", "y"), doc("_id", int32(5), "a", "scalar"))},
		{name: "preserve and index", stages: bson.A{st("$unwind", doc("path", "$a", "includeArrayIndex", "i", "preserveNullAndEmptyArrays", true))}, input: in,
			want: docs(
				doc("_id", one, "a", "x", "i", int64(0)), doc("_id", one, "a", "y", "i", int64(1)),
				doc("_id", two, "i", nil), doc("_id", three, "a", nil, "i", nil), doc("_id", int32(4), "i", nil),
				doc("_id", int32(5), "a", "scalar", "i", nil), doc("_id", int32(6), "n", doc("a", bson.A{one}), "i", nil),
			)},
		{name: "nested path", stages: bson.A{st("$unwind", "$n.a")}, input: in, want: docs(doc("_id", int32(6), "n", doc("a", one)))},
		{name: "bad spec", stages: bson.A{st("$unwind", 1)}, code: 15981},
		{name: "no dollar", stages: bson.A{st("$unwind", "a")}, code: 28818},
		{name: "no path", stages: bson.A{st("$unwind", bson.D{})}, code: 28812},
		{name: "path not string", stages: bson.A{st("$unwind", doc("path", 1))}, code: 28808},
		{name: "preserve not bool", stages: bson.A{st("$unwind", doc("path", "$a", "preserveNullAndEmptyArrays", 1))}, code: 28809},
		{name: "index not string", stages: bson.A{st("$unwind", doc("path", "$a", "includeArrayIndex", 1))}, code: 28810},
		{name: "index with dollar", stages: bson.A{st("$unwind", doc("path", "$a", "includeArrayIndex", "$i"))}, code: 28822},
		{name: "unknown option", stages: bson.A{st("$unwind", doc("path", "$a", "x", 1))}, code: 28811},
	})
}

func TestLookupUnionFacet(t *testing.T) {
	orders := docs(doc("_id", one, "item", "a", "qty", int32(2)), doc("_id", two, "item", bson.A{"b", "c"}), doc("_id", three))
	items := docs(doc("_id", "a", "sku", "a", "stock", int32(5)), doc("_id", "b", "sku", "b"), doc("_id", "n", "sku", nil), doc("_id", "m"))
	env := testEnv(map[string][]bson.D{"items": items, "orders": orders}, nil)
	runPipeCases(t, env, []pipeCase{
		{name: "equality lookup", stages: bson.A{st("$lookup", doc("from", "items", "localField", "item", "foreignField", "sku", "as", "found"))}, input: orders,
			want: docs(
				doc("_id", one, "item", "a", "qty", int32(2), "found", bson.A{items[0]}),
				doc("_id", two, "item", bson.A{"b", "c"}, "found", bson.A{items[1]}),
				doc("_id", three, "found", bson.A{items[2], items[3]}),
			)},
		{name: "pipeline lookup with let", stages: bson.A{st("$lookup", doc("from", "items", "let", doc("want", "$item", "q", "$qty"),
			"pipeline", bson.A{st("$match", doc("$expr", doc("$eq", bson.A{"$sku", "$$want"}))), st("$project", doc("_id", 0, "stock", 1, "q", "$$q"))},
			"as", "found"))}, input: orders[:1],
			want: docs(doc("_id", one, "item", "a", "qty", int32(2), "found", bson.A{doc("stock", int32(5), "q", int32(2))}))},
		{name: "lookup into dotted as", stages: bson.A{st("$lookup", doc("from", "items", "localField", "item", "foreignField", "_id", "as", "x.y"))}, input: orders[:1],
			want: docs(doc("_id", one, "item", "a", "qty", int32(2), "x", doc("y", bson.A{items[0]})))},
		{name: "lookup documents pipeline without from", stages: bson.A{st("$lookup", doc("pipeline", bson.A{st("$documents", bson.A{doc("z", 1)})}, "as", "d"))}, input: orders[:1],
			want: docs(doc("_id", one, "item", "a", "qty", int32(2), "d", bson.A{doc("z", one)}))},
		{name: "lookup not object", stages: bson.A{st("$lookup", 1)}, code: 40319},
		{name: "lookup no as", stages: bson.A{st("$lookup", doc("from", "items", "localField", "a", "foreignField", "b"))}, code: mongoerr.FailedToParse},
		{name: "lookup no fields or pipeline", stages: bson.A{st("$lookup", doc("from", "items", "as", "x"))}, code: mongoerr.FailedToParse},
		{name: "lookup unknown arg", stages: bson.A{st("$lookup", doc("from", "items", "as", "x", "pipeline", bson.A{}, "q", 1))}, code: mongoerr.FailedToParse},
		{name: "lookup non-string field", stages: bson.A{st("$lookup", doc("from", "items", "localField", 1, "foreignField", "b", "as", "x"))}, code: 4570},
		{name: "lookup bad from", stages: bson.A{st("$lookup", doc("from", 1, "as", "x", "pipeline", bson.A{}))}, code: 40321},
		{name: "lookup bad let name", stages: bson.A{st("$lookup", doc("from", "items", "as", "x", "let", doc("Bad", 1), "pipeline", bson.A{}))}, code: 16867},
		{name: "unionWith string", stages: bson.A{st("$unionWith", "items"), st("$count", "n")}, input: orders, want: docs(doc("n", int32(7)))},
		{name: "unionWith pipeline", stages: bson.A{st("$unionWith", doc("coll", "items", "pipeline", bson.A{st("$match", doc("_id", "a"))}))}, input: orders[:1],
			want: docs(orders[0], items[0])},
		{name: "unionWith unknown", stages: bson.A{st("$unionWith", doc("coll", "items", "x", 1))}, code: 40415},
		{name: "unionWith no coll", stages: bson.A{st("$unionWith", doc("pipeline", bson.A{}))}, code: 40414},
		{name: "facet", stages: bson.A{st("$facet", doc("n", bson.A{st("$count", "c")}, "first", bson.A{st("$limit", 1), st("$project", doc("_id", 1))}))}, input: orders,
			want: docs(doc("n", bson.A{doc("c", three)}, "first", bson.A{doc("_id", one)}))},
	})
	noColl := testEnv(nil, nil)
	noColl.Collection = nil
	runPipeCases(t, noColl, []pipeCase{
		{name: "lookup without collections", stages: bson.A{st("$lookup", doc("from", "items", "localField", "a", "foreignField", "b", "as", "x"))}, code: mongoerr.NotImplemented},
		{name: "unionWith without collections", stages: bson.A{st("$unionWith", "items")}, code: mongoerr.NotImplemented},
	})
}

func TestSample(t *testing.T) {
	in := docs(doc("_id", one), doc("_id", two), doc("_id", three))
	got, err := runPipeline(bson.A{st("$sample", doc("size", 2))}, in, testEnv(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || render(got[:1]) == render(got[1:]) {
		t.Fatalf("sample = %s", render(got))
	}
	got, err = runPipeline(bson.A{st("$sample", doc("size", 10))}, in, testEnv(nil, nil))
	if err != nil || len(got) != 3 {
		t.Fatalf("sample larger than input = %s, %v", render(got), err)
	}
}

func TestRunDoesNotMutateInput(t *testing.T) {
	in := docs(doc("_id", one, "a", doc("b", one), "arr", bson.A{doc("x", one)}))
	before := render(in)
	out, err := runPipeline(bson.A{
		st("$set", doc("a.c", 2, "arr.y", 3)), st("$unwind", "$arr"), st("$project", doc("a.b", 0)),
		st("$lookup", doc("from", "self", "localField", "_id", "foreignField", "_id", "as", "me")),
	}, in, testEnv(map[string][]bson.D{"self": in}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if render(in) != before {
		t.Fatalf("input changed: %s", render(in))
	}
	// The results are the caller's to change.
	out[0][0].Value = "changed"
	out[0][3].Value.(bson.A)[0].(bson.D)[0].Value = "changed"
	if render(in) != before {
		t.Fatalf("input changed through output: %s", render(in))
	}
}

func TestVarsDefaults(t *testing.T) {
	vars := map[string]any{"x": one}
	p, err := Compile(bson.A{st("$project", doc("now", "$$NOW", "ct", "$$CLUSTER_TIME", "x", "$$x"))}, testEnv(nil, vars))
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != 1 {
		t.Fatalf("Compile changed the caller's vars: %v", vars)
	}
	out, err := p.Run(docs(doc("_id", one), doc("_id", two)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out[0][1].Value.(bson.DateTime); !ok || out[0][1].Value != out[1][1].Value {
		t.Fatalf("$$NOW not a single date: %s", render(out))
	}
	if _, ok := out[0][2].Value.(bson.Timestamp); !ok {
		t.Fatalf("$$CLUSTER_TIME = %s", render(out))
	}
}
