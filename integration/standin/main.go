// Command standin is a small stand-in for the OpenClaw gateway. It serves the
// same probes, WebSocket handshake and OpenAI-compatible HTTP surface on one
// port, starts in milliseconds instead of 20 s, and can be told to misbehave
// (slow start, crash, leak memory, burn CPU), so clawd's fast tests need not
// run the 800 MB image. See /work/shared/OPENCLAW.md for the real thing.
//
// Chat completions go where OpenClaw's would: to the default agent's model
// (agents.defaults.model, primary then fallbacks) at its provider in
// models.providers, called streamed in the provider's API
// (openai-completions, openai-responses, anthropic-messages). Without a
// primary model or providers the stand-in echoes the last user message.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	defaultPort     = 18789
	defaultStateDir = "/home/node/.openclaw"
	shutdownGrace   = 5 * time.Second
)

// settings is everything the environment and command line can change.
type settings struct {
	port         int
	namespace    string
	stateDir     string
	configPath   string
	envToken     string
	listenDelay  time.Duration
	startupDelay time.Duration
	crash        bool
	crashAfter   time.Duration
	memoryMiBps  int
	memoryHold   int
	cpuBurners   int
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "fill":
			os.Exit(fill(os.Args[2:], os.Stdout))
		case "write":
			os.Exit(write(os.Args[2:], os.Stdout))
		}
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run is main without the process exit, returning the exit code.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	start := time.Now()
	logger := log.New(stderr, "standin: ", log.LstdFlags|log.Lmicroseconds)

	s, err := loadSettings(args, getenv)
	if err != nil {
		logger.Printf("bad settings: %v", err)
		return 2
	}

	// The counter goes first so that crash-loop tests can count restarts.
	boot, err := incrementBootCount(s.stateDir)
	if err != nil {
		logger.Printf("cannot update boot counter: %v", err)
		return 1
	}
	if s.crash {
		logger.Printf("STANDIN_CRASH is set: exiting with status 1 (boot %d)", boot)
		return 1
	}
	if s.crashAfter > 0 {
		time.AfterFunc(s.crashAfter, func() {
			logger.Printf("STANDIN_CRASH_AFTER=%s elapsed: exiting with status 1", s.crashAfter)
			os.Exit(1)
		})
	}
	if s.memoryMiBps > 0 {
		go growMemory(s.memoryMiBps, logger)
	}
	if s.memoryHold > 0 {
		holdMemory(s.memoryHold)
		logger.Printf("STANDIN_MEMORY_HOLD: holding %d MiB", s.memoryHold)
	}
	if s.cpuBurners > 0 {
		burnCPU(s.cpuBurners)
	}

	gw := newGateway(s, boot, start, logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	// OpenClaw binds its port only once it has loaded, so a delay here lets
	// tests see "connection refused" before the first probe answers.
	if s.listenDelay > 0 {
		select {
		case <-time.After(s.listenDelay):
		case <-ctx.Done():
			logger.Printf("stopped before listening")
			return 0
		}
	}

	ln, err := net.Listen("tcp", ":"+strconv.Itoa(s.port))
	if err != nil {
		logger.Printf("listen: %v", err)
		return 1
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	// Shutdown ignores hijacked connections, so WebSocket clients would
	// otherwise see a bare TCP drop instead of a close frame.
	srv.RegisterOnShutdown(gw.closeSockets)

	logger.Printf("listening on %s namespace=%q boot=%d token=%t ready-after=%s",
		ln.Addr(), s.namespace, boot, gw.token != "", s.startupDelay)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		logger.Printf("serve: %v", err)
		return 1
	case <-ctx.Done():
	}
	// Restore default signal handling so a second SIGTERM is not swallowed.
	stop()

	logger.Printf("signal received: shutting down (grace %s)", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Printf("grace period over, closing remaining connections: %v", err)
		_ = srv.Close()
	}
	logger.Printf("stopped")
	return 0
}

// loadSettings reads the STANDIN_* and OpenClaw variables plus --port.
func loadSettings(args []string, getenv func(string) string) (settings, error) {
	s := settings{
		port:       defaultPort,
		namespace:  getenv("CLAWD_NAMESPACE"),
		stateDir:   getenv("OPENCLAW_STATE_DIR"),
		configPath: getenv("OPENCLAW_CONFIG_PATH"),
		envToken:   getenv("OPENCLAW_GATEWAY_TOKEN"),
	}
	if s.stateDir == "" {
		s.stateDir = defaultStateDir
	}
	if s.configPath == "" {
		s.configPath = s.stateDir + "/openclaw.json"
	}

	var errs []error
	if v := getenv("PORT"); v != "" {
		p, err := parsePort(v)
		errs = append(errs, err)
		s.port = p
	}
	if v, ok := portArg(args); ok {
		p, err := parsePort(v)
		errs = append(errs, err)
		s.port = p
	}

	durations := []struct {
		name string
		dst  *time.Duration
	}{
		{"STANDIN_LISTEN_DELAY", &s.listenDelay},
		{"STANDIN_STARTUP_DELAY", &s.startupDelay},
		{"STANDIN_CRASH_AFTER", &s.crashAfter},
	}
	for _, d := range durations {
		if v := getenv(d.name); v != "" {
			var err error
			*d.dst, err = time.ParseDuration(v)
			if err == nil && *d.dst < 0 {
				err = errors.New("must not be negative")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", d.name, v, err))
			}
		}
	}

	counts := []struct {
		name string
		dst  *int
	}{
		{"STANDIN_MEMORY_GROWTH", &s.memoryMiBps},
		{"STANDIN_MEMORY_HOLD", &s.memoryHold},
		{"STANDIN_CPU_BURN", &s.cpuBurners},
	}
	for _, c := range counts {
		if v := getenv(c.name); v != "" {
			n, err := strconv.Atoi(v)
			if err == nil && n < 0 {
				err = errors.New("must not be negative")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", c.name, v, err))
			}
			*c.dst = n
		}
	}

	if v := getenv("STANDIN_CRASH"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("STANDIN_CRASH=%q: %w", v, err))
		}
		s.crash = b
	}
	return s, errors.Join(errs...)
}

// portArg finds --port N or --port=N and ignores every other argument, so the
// real gateway's command line ("gateway run --bind lan --port 18789 ...") can
// be handed to the stand-in unchanged.
func portArg(args []string) (string, bool) {
	for i, a := range args {
		switch {
		case a == "--port" || a == "-port":
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", true
		case strings.HasPrefix(a, "--port="):
			return strings.TrimPrefix(a, "--port="), true
		}
	}
	return "", false
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return defaultPort, fmt.Errorf("port %q: want 1-65535", v)
	}
	return p, nil
}
