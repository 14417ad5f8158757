package value

// Collator orders strings under a collation (MongoDB manual, "Collation").
// Comparisons under a collation apply it to string and symbol values
// wherever they are nested; field names stay binary.
type Collator interface {
	CompareStrings(a, b string) int
	// StringKey is equal for two strings exactly when CompareStrings
	// reports them equal.
	StringKey(s string) string
}

// EqualWith is Equal under coll (nil: binary).
func EqualWith(a, b any, coll Collator) bool { return CompareWith(a, b, coll) == 0 }

func collKey(s string, coll Collator) string {
	if coll == nil {
		return s
	}
	return coll.StringKey(s)
}
