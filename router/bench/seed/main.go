// Command seed fills a running clawd's store with many namespaces and API
// keys, so `make bench-router` can measure the router with a big table.
//
// The namespaces are placed on another node (Spec.Node), as they would be
// in a cluster: this node's supervisor leaves them alone (no container, no
// Docker call), while every node's router still routes their hostnames and
// keys. Writing to etcd directly is the point: 20,000 CLI calls would take
// minutes, and what is measured is the router's table, not the admin API.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/store"
)

func main() {
	endpoint := flag.String("etcd", "http://127.0.0.1:2379", "etcd client URL of the daemon")
	count := flag.Int("namespaces", 10000, "namespaces to create, one hostname and one API key each")
	node := flag.String("node", "bench-elsewhere", "node the namespaces are placed on (not this daemon's)")
	workers := flag.Int("workers", 32, "concurrent writers")
	flag.Parse()
	if err := run(*endpoint, *node, *count, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(endpoint, node string, count, workers int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, store.Config{Endpoints: []string{endpoint}})
	if err != nil {
		return err
	}
	defer st.Close()

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count || ctx.Err() != nil {
					return
				}
				if _, err := one(ctx, st, node, fmt.Sprintf("seed-%05d", i)); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: %d namespaces and %d keys in %s\n", count, count, time.Since(start).Round(time.Millisecond))

	// The sentinel is written last: once the router knows its hostname and
	// key, it has applied every write before them (each watch is ordered).
	secret, err := one(ctx, st, node, "seed-last")
	if err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}

// one creates namespace name with hostname <name>.bench.localhost and one
// rate-limited key, and returns the key.
func one(ctx context.Context, st *store.Store, node, name string) (string, error) {
	spec := namespace.Spec{Name: name, Hostnames: []string{name + ".bench.localhost"}, Node: node}
	if err := st.CreateNamespace(ctx, spec); err != nil {
		return "", err
	}
	k, secret, err := apikey.New(name, "seed", "1000/hour", 0, time.Now())
	if err != nil {
		return "", err
	}
	return secret, st.CreateAPIKey(ctx, k)
}
