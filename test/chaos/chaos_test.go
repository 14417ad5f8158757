// Package chaos runs a bank on three mongogate instances behind nginx on
// one emulator and injects faults at random while clients move money:
// instances killed and restarted, paused past three heartbeats and
// resumed, cut off from MongoDB; commits that fail with an unknown
// result; write conflicts on hot accounts. Afterwards it checks what the
// clients were told against the data: the total is conserved in every
// snapshot and at the end, every acknowledged transfer is there exactly
// once, every transfer a client was told did not commit is absent, every
// unknown outcome is resolved by GetTransactionOutcome and matches the
// data, and no account goes negative. It always runs on cmd/emulator
// (MONGOGATE_TEST_URI is not used): it sets the emulator's transaction
// lifetime and fail points, and its data is thrown away.
//
//	go test ./test/chaos/                              # bounded, for CI
//	go test ./test/chaos/ -chaos-duration=10m -timeout=20m
//	go test ./test/chaos/ -chaos-seed=42               # replay a schedule
package chaos

import (
	"flag"
	"testing"
	"time"

	"github.com/mongogate/mongogate/internal/proctest"
)

var (
	duration = flag.Duration("chaos-duration", 40*time.Second, "how long clients move money while faults are injected")
	seed     = flag.Int64("chaos-seed", 0, "seed of the fault schedule and the clients' choices; 0 picks one (printed)")
	verbose  = flag.Bool("chaos-histories", false, "log every transfer's history, not only the offending ones")
)

var bins proctest.Binaries

func TestMain(m *testing.M) {
	flag.Parse()
	proctest.Main(m, &bins)
}

func TestBank(t *testing.T) {
	s := *seed
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("chaos seed %d (replay the schedule with -chaos-seed=%d), duration %v", s, s, *duration)
	b := startBank(t, s)
	b.run(t, *duration)
	b.check(t)
}
