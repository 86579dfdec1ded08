// Command miniredis is the Redis that Argo CD's repo-server and application-controller use in
// the rehearsal: github.com/alicebob/miniredis/v2, the in-memory Redis server Argo CD's own tests
// run against, on 127.0.0.1 only. A system Redis is never used.
//
//	miniredis --port 6379   # 0 (the default) picks a free port
//
// It prints `listening on 127.0.0.1:PORT` once it accepts connections, and stops on SIGTERM or
// SIGINT. `miniredis --version` prints
// the pinned version (set with -ldflags "-X main.version=…").
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"
)

var version = "unknown"

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free port)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Printf("miniredis v%s\n", version)
		return
	}
	if flag.NArg() > 0 || *port < 0 || *port > 65535 {
		fmt.Fprintf(os.Stderr, "usage: miniredis [--port N] (N from 0 to 65535)\n")
		os.Exit(2)
	}
	// Before the address is printed, so a signal sent as soon as it shows stops the server cleanly.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	server := miniredis.NewMiniRedis()
	if err := server.StartAddr(fmt.Sprintf("127.0.0.1:%d", *port)); err != nil {
		fmt.Fprintf(os.Stderr, "miniredis: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", server.Addr())
	<-stop
	server.Close()
}
