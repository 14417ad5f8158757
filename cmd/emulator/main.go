// Command emulator runs mongogate's in-memory MongoDB emulator as its own
// process, for tools and tests in other languages. It prints the connection
// string on stdout and serves until SIGINT or SIGTERM.
//
//	emulator --listen 127.0.0.1:27017
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mongogate/mongogate/emulator"
)

func main() {
	listen := flag.String("listen", envOr("MONGOGATE_EMULATOR_LISTEN", "127.0.0.1:27017"), "TCP address to listen on (env MONGOGATE_EMULATOR_LISTEN)")
	lifetime := flag.Duration("transaction-lifetime", 60*time.Second, "abort transactions open longer than this (MongoDB's transactionLifetimeLimitSeconds)")
	refresh := flag.Duration("session-refresh-interval", 5*time.Minute, "close the cursors of sessions ended by endSessions this often (MongoDB's logicalSessionRefreshMillis)")
	ttl := flag.Duration("ttl-monitor-interval", 60*time.Second, "delete documents expired by TTL indexes this often (MongoDB's ttlMonitorSleepSecs)")
	oplogSize := flag.Int("oplog-size", 100000, "number of entries (document writes and catalog changes) the oplog keeps for change streams; resuming from an older point fails with ChangeStreamHistoryLost")
	standalone := flag.Bool("standalone", false, "report a standalone server instead of a replica set primary: no transactions, as a real standalone mongod")
	verbose := flag.Bool("v", false, "log connection and command errors")
	flag.Parse()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := emulator.New(emulator.Config{
		Addr:                     *listen,
		TransactionLifetimeLimit: *lifetime,
		SessionRefreshInterval:   *refresh,
		TTLMonitorInterval:       *ttl,
		OplogSize:                *oplogSize,
		Standalone:               *standalone,
		Logger:                   log,
	})
	if err != nil {
		log.Error("emulator", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		log.Error("emulator", "err", err)
		os.Exit(1)
	}
	fmt.Println(srv.URI())
	log.Warn("emulator: data is in memory only and is lost when the process exits", "addr", srv.Addr())
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(closeCtx); err != nil {
		log.Error("emulator: close", "err", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
