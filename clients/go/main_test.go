package mongogate_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/mongogate/mongogate/emulator"
	"github.com/mongogate/mongogate/internal/testbackend"
)

// target is the address of the mongogate server the examples talk to, as
// "localhost:50051" would be in a program; TestMain starts that server.
var target string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	uri := os.Getenv(testbackend.EnvURI)
	if uri == "" {
		emu, err := emulator.New(emulator.Config{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "emulator:", err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := emu.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "emulator:", err)
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = emu.Close(ctx)
		}()
		uri = emu.URI()
	}
	g, err := startGate(uri, gateConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongogate:", err)
		return 1
	}
	defer g.stop()
	target = g.addr
	return m.Run()
}
