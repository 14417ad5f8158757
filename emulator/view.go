package emulator

// viewDef is a view's definition (create with viewOn and pipeline).
type viewDef struct{}
