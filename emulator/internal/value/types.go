package value

import "go.mongodb.org/mongo-driver/v2/bson"

// TypeAlias is the $type alias of v ("double", "string", "object", …), as
// used by the $type query operator and aggregation expression. A missing
// value is "missing".
func TypeAlias(v any) string {
	switch v.(type) {
	case float64:
		return "double"
	case string:
		return "string"
	case bson.D, bson.M:
		return "object"
	case bson.A:
		return "array"
	case bson.Binary:
		return "binData"
	case bson.Undefined:
		return "undefined"
	case bson.ObjectID:
		return "objectId"
	case bool:
		return "bool"
	case bson.DateTime:
		return "date"
	case nil:
		return "null"
	case bson.Regex:
		return "regex"
	case bson.DBPointer:
		return "dbPointer"
	case bson.JavaScript:
		return "javascript"
	case bson.Symbol:
		return "symbol"
	case bson.CodeWithScope:
		return "javascriptWithScope"
	case int32:
		return "int"
	case bson.Timestamp:
		return "timestamp"
	case int64:
		return "long"
	case bson.Decimal128:
		return "decimal"
	case bson.MinKey:
		return "minKey"
	case bson.MaxKey:
		return "maxKey"
	case Missing:
		return "missing"
	}
	return "unknown"
}

// TypeNumber is the BSON type number of v (1 double … 19 decimal, -1 minKey,
// 127 maxKey), as accepted by $type.
func TypeNumber(v any) int32 {
	switch v.(type) {
	case float64:
		return 1
	case string:
		return 2
	case bson.D, bson.M:
		return 3
	case bson.A:
		return 4
	case bson.Binary:
		return 5
	case bson.Undefined:
		return 6
	case bson.ObjectID:
		return 7
	case bool:
		return 8
	case bson.DateTime:
		return 9
	case nil:
		return 10
	case bson.Regex:
		return 11
	case bson.DBPointer:
		return 12
	case bson.JavaScript:
		return 13
	case bson.Symbol:
		return 14
	case bson.CodeWithScope:
		return 15
	case int32:
		return 16
	case bson.Timestamp:
		return 17
	case int64:
		return 18
	case bson.Decimal128:
		return 19
	case bson.MinKey:
		return -1
	case bson.MaxKey:
		return 127
	}
	return 0
}

// AliasNumber maps a $type alias to its type number; "number" is not a single
// type and gives ok false.
func AliasNumber(alias string) (int32, bool) {
	n, ok := aliasNumbers[alias]
	return n, ok
}

var aliasNumbers = map[string]int32{
	"double": 1, "string": 2, "object": 3, "array": 4, "binData": 5,
	"undefined": 6, "objectId": 7, "bool": 8, "date": 9, "null": 10,
	"regex": 11, "dbPointer": 12, "javascript": 13, "symbol": 14,
	"javascriptWithScope": 15, "int": 16, "timestamp": 17, "long": 18,
	"decimal": 19, "minKey": -1, "maxKey": 127,
}
