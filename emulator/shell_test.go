package emulator_test

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongogate/mongogate/emulator"
)

func runCmd[T any](t *testing.T, db *mongo.Database, cmd bson.D) T {
	t.Helper()
	var out T
	if err := db.RunCommand(ctxT(t), cmd).Decode(&out); err != nil {
		t.Fatalf("%v: %v", cmd, err)
	}
	return out
}

func TestStatsCommands(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	db := client.Database("db")
	ctx := ctxT(t)
	coll := db.Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateView(ctx, "v", "c", bson.A{}); err != nil {
		t.Fatal(err)
	}

	type storage struct {
		Count       int32            `bson:"count"`
		Size        int32            `bson:"size"`
		NIndexes    int32            `bson:"nindexes"`
		IndexSizes  map[string]int32 `bson:"indexSizes"`
		ScaleFactor int32            `bson:"scaleFactor"`
	}
	cs := runCmd[storage](t, db, bson.D{{Key: "collStats", Value: "c"}})
	if cs.Count != 2 || cs.Size <= 0 || cs.NIndexes != 1 || cs.IndexSizes["_id_"] <= 0 {
		t.Errorf("collStats = %+v", cs)
	}

	cur, err := coll.Aggregate(ctx, bson.A{bson.D{{Key: "$collStats", Value: bson.D{
		{Key: "storageStats", Value: bson.D{{Key: "scale", Value: 1024}}}, {Key: "count", Value: bson.D{}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var stages []struct {
		NS           string  `bson:"ns"`
		Count        int32   `bson:"count"`
		StorageStats storage `bson:"storageStats"`
	}
	if err := cur.All(ctx, &stages); err != nil {
		t.Fatal(err)
	}
	if len(stages) != 1 || stages[0].NS != "db.c" || stages[0].Count != 2 || stages[0].StorageStats.ScaleFactor != 1024 {
		t.Errorf("$collStats = %+v", stages)
	}
	_, err = coll.Aggregate(ctx, bson.A{bson.D{{Key: "$match", Value: bson.D{}}}, bson.D{{Key: "$collStats", Value: bson.D{}}}})
	if !hasCode(err, 40602) {
		t.Errorf("$collStats not first = %v, want 40602", err)
	}

	ds := runCmd[struct {
		Collections int32 `bson:"collections"`
		Views       int32 `bson:"views"`
		Objects     int32 `bson:"objects"`
		Indexes     int32 `bson:"indexes"`
	}](t, db, bson.D{{Key: "dbStats", Value: 1}})
	if ds.Collections != 1 || ds.Views != 1 || ds.Objects != 2 || ds.Indexes != 1 {
		t.Errorf("dbStats = %+v", ds)
	}

	admin := client.Database("admin")
	rs := runCmd[struct {
		Set     string `bson:"set"`
		MyState int32  `bson:"myState"`
		Members []struct {
			Name     string `bson:"name"`
			StateStr string `bson:"stateStr"`
			Self     bool   `bson:"self"`
		} `bson:"members"`
	}](t, admin, bson.D{{Key: "replSetGetStatus", Value: 1}})
	if rs.Set != "rs0" || rs.MyState != 1 || len(rs.Members) != 1 || rs.Members[0].StateStr != "PRIMARY" || !rs.Members[0].Self {
		t.Errorf("replSetGetStatus = %+v", rs)
	}
	ss := runCmd[struct {
		Process     string `bson:"process"`
		Connections struct {
			Current int32 `bson:"current"`
		} `bson:"connections"`
		Opcounters struct {
			Insert int64 `bson:"insert"`
		} `bson:"opcounters"`
		Repl struct {
			SetName string `bson:"setName"`
		} `bson:"repl"`
	}](t, admin, bson.D{{Key: "serverStatus", Value: 1}})
	if ss.Process != "mongod" || ss.Connections.Current < 1 || ss.Opcounters.Insert < 1 || ss.Repl.SetName != "rs0" {
		t.Errorf("serverStatus = %+v", ss)
	}
}

func TestExplain(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	db := mustConnect(t, srv.URI()).Database("db")
	ctx := ctxT(t)
	coll := db.Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "a", Value: 1}}, bson.D{{Key: "a", Value: 2}}, bson.D{{Key: "a", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "a", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	type plan struct {
		Stage      string `bson:"stage"`
		IndexName  string `bson:"indexName"`
		InputStage *plan  `bson:"inputStage"`
	}
	type explained struct {
		QueryPlanner struct {
			Namespace   string `bson:"namespace"`
			WinningPlan plan   `bson:"winningPlan"`
		} `bson:"queryPlanner"`
		ExecutionStats struct {
			NReturned         int32 `bson:"nReturned"`
			TotalDocsExamined int32 `bson:"totalDocsExamined"`
		} `bson:"executionStats"`
		Stages []bson.M `bson:"stages"`
	}
	tests := []struct {
		name      string
		cmd       bson.D
		stages    []string // winning plan, outermost first
		nReturned int32
	}{
		{"find by index", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: 2}}}}, []string{"FETCH", "IXSCAN"}, 2},
		{"find scan sort limit", bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "b", Value: nil}}}, {Key: "sort", Value: bson.D{{Key: "a", Value: -1}}}, {Key: "limit", Value: 1}},
			[]string{"SORT", "COLLSCAN"}, 1},
		{"count", bson.D{{Key: "count", Value: "c"}, {Key: "query", Value: bson.D{{Key: "a", Value: 1}}}}, []string{"FETCH", "IXSCAN"}, 1},
		{"delete is not performed", bson.D{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}}, []string{"COLLSCAN"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runCmd[explained](t, db, bson.D{{Key: "explain", Value: tc.cmd}, {Key: "verbosity", Value: "executionStats"}})
			var stages []string
			for p := &got.QueryPlanner.WinningPlan; p != nil; p = p.InputStage {
				stages = append(stages, p.Stage)
			}
			if got.QueryPlanner.Namespace != "db.c" || len(stages) != len(tc.stages) || stages[0] != tc.stages[0] || stages[len(stages)-1] != tc.stages[len(tc.stages)-1] {
				t.Errorf("winning plan stages %v, want %v", stages, tc.stages)
			}
			if got.ExecutionStats.NReturned != tc.nReturned {
				t.Errorf("nReturned = %d, want %d", got.ExecutionStats.NReturned, tc.nReturned)
			}
		})
	}
	if n := count(t, coll, bson.D{}); n != 3 {
		t.Errorf("explain of a delete removed documents: %d left", n)
	}
	agg := runCmd[explained](t, db, bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "a", Value: 2}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$a"}}}},
	}}, {Key: "explain", Value: true}})
	if len(agg.Stages) != 2 || agg.Stages[0]["$cursor"] == nil {
		t.Errorf("aggregate explain stages = %v", agg.Stages)
	}
	err := db.RunCommand(ctx, bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: "c"}}}, {Key: "verbosity", Value: "loud"}}).Err()
	if !hasCode(err, 2) {
		t.Errorf("bad verbosity = %v, want BadValue", err)
	}
}

func TestCurrentOpAndKillOp(t *testing.T) {
	srv := mustStart(t, emulator.Config{})
	client := mustConnect(t, srv.URI())
	admin := client.Database("admin")
	coll := client.Database("db").Collection("c")
	ctx := ctxT(t)
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	failPoint(t, client, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"find"}}, {Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 20000}}}})

	done := make(chan error, 1)
	go func() {
		done <- coll.FindOne(ctx, bson.D{}).Err()
	}()
	type inprog struct {
		Inprog []struct {
			Opid    int32  `bson:"opid"`
			NS      string `bson:"ns"`
			Command bson.M `bson:"command"`
		} `bson:"inprog"`
	}
	var opid int32
	found := waitFor(t, 10*time.Second, func() bool {
		ops := runCmd[inprog](t, admin, bson.D{{Key: "currentOp", Value: 1}, {Key: "command.find", Value: "c"}})
		if len(ops.Inprog) == 1 && ops.Inprog[0].NS == "db.c" {
			opid = ops.Inprog[0].Opid
			return true
		}
		return false
	})
	if !found {
		t.Fatal("the blocked find never showed in currentOp")
	}
	cur, err := admin.Aggregate(ctx, bson.A{bson.D{{Key: "$currentOp", Value: bson.D{}}}, bson.D{{Key: "$match", Value: bson.D{{Key: "opid", Value: opid}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var viaStage []bson.M
	if err := cur.All(ctx, &viaStage); err != nil || len(viaStage) != 1 {
		t.Errorf("$currentOp for opid %d = %v, %v", opid, viaStage, err)
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: opid}}).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !hasCode(err, 11601) {
			t.Errorf("killed find = %v, want Interrupted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("killOp did not interrupt the find")
	}
}
