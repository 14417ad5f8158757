package agg

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/expr"
	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

// fakeMatch is a stand-in for the query package: top-level equality
// (missing equals null) plus $expr.
func fakeMatch(filter bson.D, vars map[string]any) (func(bson.D) (bool, error), error) {
	type cond struct {
		field string
		want  any
		expr  expr.Expr
	}
	var conds []cond
	for _, e := range filter {
		if e.Key == "$expr" {
			x, err := expr.Compile(e.Value)
			if err != nil {
				return nil, err
			}
			conds = append(conds, cond{expr: x})
			continue
		}
		if len(e.Key) > 0 && e.Key[0] == '$' {
			return nil, mongoerr.New(mongoerr.BadValue, "unknown top level operator: %s", e.Key)
		}
		conds = append(conds, cond{field: e.Key, want: e.Value})
	}
	return func(d bson.D) (bool, error) {
		for _, c := range conds {
			if c.expr != nil {
				v, err := c.expr.Eval(d, vars)
				if err != nil {
					return false, err
				}
				if !value.Truthy(v) {
					return false, nil
				}
				continue
			}
			got, _ := value.Lookup(d, c.field)
			if !value.Equal(got, c.want) {
				return false, nil
			}
		}
		return true, nil
	}, nil
}

func testEnv(colls map[string][]bson.D, vars map[string]any) Env {
	return Env{
		Collection: func(name string) ([]bson.D, error) { return colls[name], nil },
		Vars:       vars,
		Match:      fakeMatch,
	}
}

// pipeCase runs stages over input; exactly one of want / code applies.
type pipeCase struct {
	name   string
	stages bson.A
	input  []bson.D
	want   []bson.D
	code   int32
}

func runPipeCases(t *testing.T, env Env, cases []pipeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runPipeline(tc.stages, tc.input, env)
			if tc.code != 0 {
				e := mongoerr.As(err)
				if e == nil {
					t.Fatalf("got %v, %v; want error code %d", render(got), err, tc.code)
				}
				if e.Code != tc.code {
					t.Fatalf("got error %d (%s), want code %d", e.Code, e.Msg, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if render(got) != render(tc.want) {
				t.Fatalf("got  %s\nwant %s", render(got), render(tc.want))
			}
		})
	}
}

func runPipeline(stages bson.A, input []bson.D, env Env) ([]bson.D, error) {
	p, err := Compile(stages, env)
	if err != nil {
		return nil, err
	}
	return p.Run(input)
}

// render prints documents with their value types, so int32 and int64
// differ.
func render(docs []bson.D) string {
	s := "["
	for i, d := range docs {
		if i > 0 {
			s += ", "
		}
		s += typed(d)
	}
	return s + "]"
}

func typed(v any) string {
	switch x := v.(type) {
	case bson.D:
		s := "{"
		for i, e := range x {
			if i > 0 {
				s += ", "
			}
			s += e.Key + ": " + typed(e.Value)
		}
		return s + "}"
	case bson.A:
		s := "["
		for i, e := range x {
			if i > 0 {
				s += ", "
			}
			s += typed(e)
		}
		return s + "]"
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v(%T)", v, v)
}

func doc(kv ...any) bson.D {
	d := bson.D{}
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}

func st(name string, spec any) bson.D { return bson.D{{Key: name, Value: spec}} }

func docs(ds ...bson.D) []bson.D { return ds }
