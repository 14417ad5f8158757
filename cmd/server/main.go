// Command mongogate serves MongoDB sessions and transactions over gRPC.
//
//	mongogate                                  # in-memory emulator, 127.0.0.1:50051
//	mongogate --mongo-uri mongodb://db:27017/?replicaSet=rs0
//	mongogate --help                           # every flag and its MONGOGATE_* variable
//
// With no MongoDB URI it starts the in-memory emulator on a loopback port
// and warns that data is not persisted. SIGINT or SIGTERM shuts down
// gracefully: health turns NOT_SERVING, in-flight RPCs get the shutdown
// timeout to finish, open transactions are aborted (never committed),
// sessions end, backends disconnect. A second signal stops at once.
// With --authz, SIGHUP reloads the authorization rules without ending
// any session; a file that does not load keeps the rules in force.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/mongogate/mongogate/gateway"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main with its inputs made explicit; it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mongogate: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mongogate: %v\n", err)
		return 2
	}
	// A proxy's live heap is small and its garbage plenty: collecting less
	// often costs little memory and saves CPU on every call (README,
	// "Performance"). Go's own GOGC variable wins.
	if getenv("GOGC") == "" && cfg.gogc > 0 {
		debug.SetGCPercent(cfg.gogc)
	}

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	// SIGHUP is caught only when there is something to reload; otherwise
	// it keeps its default effect.
	var reload chan os.Signal
	if cfg.gw.Files.Authz != "" {
		reload = make(chan os.Signal, 1)
		signal.Notify(reload, syscall.SIGHUP)
		defer signal.Stop(reload)
	}

	inst, err := gateway.New(context.Background(), cfg.gatewayConfig(log))
	if err != nil {
		log.Error("mongogate: start failed", "err", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		inst.Close()
		log.Error("mongogate: start failed", "err", fmt.Errorf("listen: %w", err))
		return 1
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- inst.Serve(ln) }()
	select {
	case <-inst.Ready():
	case err := <-serveErr:
		inst.Close()
		log.Error("mongogate: start failed", "err", err)
		return 1
	}
	if addr := inst.MetricsAddr(); addr != "" {
		fmt.Fprintf(stdout, "mongogate metrics on http://%s/metrics\n", addr)
	}
	fmt.Fprintf(stdout, "mongogate listening on %s\n", ln.Addr())

	for serving := true; serving; {
		select {
		case <-reload:
			inst.ReloadAuthz()
		case sig := <-signals:
			log.Info("mongogate: shutting down", "signal", sig.String(), "timeout", cfg.shutdown)
			serving = false
		case err := <-serveErr:
			log.Error("mongogate: serving failed", "err", err)
			inst.Close()
			return 1
		}
	}
	done := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
		defer cancel()
		done <- inst.Shutdown(sctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			log.Error("mongogate: shutdown", "err", err)
			return 1
		}
		log.Info("mongogate: stopped")
		return 0
	case sig := <-signals:
		log.Warn("mongogate: second signal, stopping now", "signal", sig.String())
		inst.Close()
		return 1
	}
}

func newLogger(cfg *config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", cfg.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
