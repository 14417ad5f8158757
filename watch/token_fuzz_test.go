package watch

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// verify never panics, and accepts exactly the tokens signed for its
// binding with its key: a token that verifies carries the MongoDB token
// it was signed with.
func FuzzVerify(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	bind := Spec{Backend: "default", Database: "db", Collection: "c"}.binding()
	mongoToken, err := bson.Marshal(bson.D{{Key: "_data", Value: "016B16218E00000002800000000000"}})
	if err != nil {
		f.Fatal(err)
	}
	good := sign(key, bind, mongoToken)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("mgw1")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := verify(key, bind, tok)
		if err != nil {
			return
		}
		if sign(key, bind, got) != tok {
			t.Fatalf("verify accepted %q, which is not the signature of what it returned", tok)
		}
	})
}
