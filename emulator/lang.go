package emulator

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/agg"
	"github.com/mongogate/mongogate/emulator/internal/expr"
	"github.com/mongogate/mongogate/emulator/internal/query"
	"github.com/mongogate/mongogate/emulator/internal/update"
)

// This file wires the query, update, expression and aggregation languages
// together; they take each other as function values to stay free of import
// cycles.

var nowFunc = time.Now

func compileExpr(e any) (query.Evaluator, error) { return expr.Compile(e) }

func compileFilter(filter bson.D, vars map[string]any) (*query.Filter, error) {
	return query.Compile(filter, query.Options{Vars: vars, Expr: compileExpr})
}

func compileProjection(spec bson.D, vars map[string]any) (*query.Projection, error) {
	return query.CompileProjection(spec, query.Options{Vars: vars, Expr: compileExpr})
}

func matcher(filter bson.D, vars map[string]any) (func(bson.D) (bool, error), error) {
	f, err := compileFilter(filter, vars)
	if err != nil {
		return nil, err
	}
	return f.Match, nil
}

func compileUpdate(u any, arrayFilters []bson.D, vars map[string]any) (*update.Update, error) {
	return update.Compile(u, arrayFilters, update.Options{
		Match:    func(filter bson.D) (func(bson.D) (bool, error), error) { return matcher(filter, vars) },
		Pipeline: runUpdatePipeline,
		Vars:     vars,
		Now:      nowFunc,
	})
}

func runUpdatePipeline(stages bson.A, doc bson.D, vars map[string]any) (bson.D, error) {
	p, err := agg.Compile(stages, agg.Env{Vars: vars, Match: matcher})
	if err != nil {
		return nil, err
	}
	out, err := p.Run([]bson.D{doc})
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return bson.D{}, nil
	}
	return out[0], nil
}

// evalConstant evaluates a `let` value, which may use other variables but
// no fields.
func evalConstant(e any, vars map[string]any) (any, error) {
	x, err := expr.Compile(e)
	if err != nil {
		return nil, err
	}
	return x.Eval(bson.D{}, vars)
}
