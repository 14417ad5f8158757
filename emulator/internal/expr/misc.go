package expr

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongogate/mongogate/emulator/internal/mongoerr"
	"github.com/mongogate/mongogate/emulator/internal/value"
)

func init() {
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		d, ok := value.Doc(v[0])
		if !ok {
			return nil, mongoerr.New(31393, "$bsonSize requires a document input, found: %s", typeName(v[0]))
		}
		b, err := bson.Marshal(d)
		if err != nil {
			return nil, mongoerr.New(mongoerr.BadValue, "$bsonSize: %v", err)
		}
		return int32(len(b)), nil
	}), "$bsonSize")
	register(eager(1, 1, func(_ string, v []any) (any, error) {
		switch x := v[0].(type) {
		case string:
			return int32(len(x)), nil
		case bson.Binary:
			return int32(len(x.Data)), nil
		}
		if Nullish(v[0]) {
			return nil, nil
		}
		return nil, mongoerr.New(51276, "$binarySize requires a string or BinData argument, found: %s", typeName(v[0]))
	}), "$binarySize")
	register(eager(1, 1, timestampPart(true)), "$tsSecond")
	register(eager(1, 1, timestampPart(false)), "$tsIncrement")
}

func timestampPart(seconds bool) func(string, []any) (any, error) {
	return func(name string, v []any) (any, error) {
		if Nullish(v[0]) {
			return nil, nil
		}
		ts, ok := v[0].(bson.Timestamp)
		if !ok {
			return nil, mongoerr.New(5687301, "Argument to %s must be a timestamp, but is %s", name, typeName(v[0]))
		}
		if seconds {
			return int64(ts.T), nil
		}
		return int64(ts.I), nil
	}
}
