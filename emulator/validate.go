package emulator

// validator is a collection's document validation.
type validator struct{}
