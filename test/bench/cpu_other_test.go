//go:build !unix

package bench

import "time"

// cpuTime is unknown here; the CPU rows then show n/a.
func cpuTime() time.Duration { return 0 }
