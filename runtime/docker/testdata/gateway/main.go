// Command gateway is a stand-in for the OpenClaw gateway used by the runtime
// integration tests: a static HTTP server that reports its identity and
// proves it can write its state dir as the unprivileged user it runs as.
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
)

// hog keeps /alloc's memory reachable.
var hog [][]byte

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"namespace": os.Getenv("CLAWD_NAMESPACE"),
			"state_dir": os.Getenv("OPENCLAW_STATE_DIR"),
			"uid":       os.Getuid(),
		})
	})
	// /write proves the volumes are writable by the gateway's uid.
	http.HandleFunc("/write", func(w http.ResponseWriter, r *http.Request) {
		dir := r.URL.Query().Get("dir")
		if dir == "" {
			dir = os.Getenv("OPENCLAW_STATE_DIR")
		}
		if err := os.WriteFile(filepath.Join(dir, "probe"), []byte(r.URL.Query().Get("v")), 0o600); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	// /read returns what /write left, to prove the volume outlived a container.
	http.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		dir := r.URL.Query().Get("dir")
		if dir == "" {
			dir = os.Getenv("OPENCLAW_STATE_DIR")
		}
		b, err := os.ReadFile(filepath.Join(dir, "probe"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	// /alloc grows the heap past the memory cap so tests can watch an OOM kill.
	http.HandleFunc("/alloc", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		for range mb {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = 1
			}
			hog = append(hog, chunk)
		}
		_, _ = w.Write([]byte("survived"))
	})
	// /say writes a line to stdout, or to stderr with stream=err, for the
	// log tail tests.
	http.HandleFunc("/say", func(w http.ResponseWriter, r *http.Request) {
		out := os.Stdout
		if r.URL.Query().Get("stream") == "err" {
			out = os.Stderr
		}
		_, _ = out.WriteString(r.URL.Query().Get("line") + "\n")
		_, _ = w.Write([]byte("said"))
	})
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
}
