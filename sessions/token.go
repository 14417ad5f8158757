package sessions

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// secretBytes is the number of random bytes in a token: 144 bits, above the
// 128 the wire contract promises, and a multiple of 3 so the base64 form
// has no padding to strip.
const secretBytes = 18

// redactChars is how much of the secret Redact keeps: enough to tell
// sessions apart in one log, far too little to guess the rest.
const redactChars = 4

var tokenEncoding = base64.RawURLEncoding

// newToken returns "<instance>.<secret>", the secret being crypto/rand bytes
// in URL-safe base64 without padding.
func newToken(instance string) string {
	var secret [secretBytes]byte
	// crypto/rand.Read never fails: the runtime aborts the program rather
	// than hand out predictable bytes.
	_, _ = rand.Read(secret[:])
	var enc [(secretBytes * 4) / 3]byte
	tokenEncoding.Encode(enc[:], secret[:])
	var b strings.Builder
	b.Grow(len(instance) + 1 + len(enc))
	b.WriteString(instance)
	b.WriteByte('.')
	b.Write(enc[:])
	return b.String()
}

// validInstanceID reports whether id may prefix tokens: [a-z0-9-]{1,32}.
func validInstanceID(id string) bool {
	if len(id) == 0 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// splitToken returns the instance prefix and the secret of a well-formed
// token; ok is false for anything else.
func splitToken(token string) (instance, secret string, ok bool) {
	instance, secret, found := strings.Cut(token, ".")
	if !found || !validInstanceID(instance) || secret == "" {
		return "", "", false
	}
	return instance, secret, true
}

// InstanceOf returns the instance prefix of token, naming the mongogate
// instance that owns the session, or "" if token is malformed.
func InstanceOf(token string) string {
	instance, _, _ := splitToken(token)
	return instance
}

// Redact returns token as it may appear in logs and error messages: the
// instance prefix and the first few characters of the secret, such as
// "inst.AbCd…". A malformed token redacts to "(malformed)", since it may be
// a secret pasted into the wrong field.
func Redact(token string) string {
	instance, secret, ok := splitToken(token)
	if !ok {
		return "(malformed)"
	}
	if len(secret) > redactChars {
		secret = secret[:redactChars]
	}
	return instance + "." + secret + "…"
}
