// Command seed fills a running clawd's store with many namespaces and API
// keys, so `make bench-router` can measure the router with a big table.
//
// The namespaces are placed on another node (Spec.Node), as they would be
// in a cluster: the daemon's supervisor leaves them alone (no container, no
// Docker call), while its router routes every node's namespaces alike.
// Last comes the benchmark namespace itself, Running at the gateway another
// daemon started (-backend), with a key: once the router serves that key on
// that host, it has applied every write before them (each watch is
// ordered). Writing to etcd directly is the point: 20,000 CLI calls would
// take minutes, and what is measured is the router's table, not the admin
// API.
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
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/store"
)

func main() {
	endpoint := flag.String("etcd", "http://127.0.0.1:2379", "etcd client URL of the daemon")
	count := flag.Int("namespaces", 10000, "namespaces to create, one hostname and one API key each")
	node := flag.String("node", "bench-elsewhere", "node the namespaces are placed on (not this daemon's)")
	workers := flag.Int("workers", 64, "concurrent writers")
	host := flag.String("host", "bench.localhost", "hostname of the benchmark namespace")
	backend := flag.String("backend", "", "address of the benchmark namespace's running gateway")
	flag.Parse()
	if *backend == "" {
		fmt.Fprintln(os.Stderr, "seed: -backend is required")
		os.Exit(2)
	}
	if err := run(*endpoint, *node, *host, *backend, *count, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run(endpoint, node, host, backend string, count, workers int) error {
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
				name := fmt.Sprintf("seed-%05d", i)
				spec := namespace.Spec{Name: name, Hostnames: []string{name + ".bench.localhost"}, Node: node}
				if _, err := create(ctx, st, spec, nil, "1000/hour"); err != nil {
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

	// The same gateway once more, under an api.requestsPerHour it never
	// reaches: the quota row of make bench-router.
	running := &namespace.Status{Phase: namespace.PhaseRunning, Address: backend, Node: node, Since: time.Now().UTC()}
	qspec := namespace.Spec{Name: "bench-quota", Hostnames: []string{"quota." + host}, Node: node, MinInstances: 1,
		Quota: &quota.Limits{RequestsPerHour: 1_000_000_000_000}}
	if _, err := create(ctx, st, qspec, running, "1000000000/second"); err != nil {
		return err
	}

	// MinInstances keeps the idle reaper from putting it to sleep.
	spec := namespace.Spec{Name: "bench", Hostnames: []string{host}, Node: node, MinInstances: 1}
	secret, err := create(ctx, st, spec, running, "1000000000/second")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: %d namespaces and %d keys in %s\n", count+2, count+2, time.Since(start).Round(time.Millisecond))
	fmt.Println(secret)
	return nil
}

// create stores a namespace (with status, if not nil) and a key for it
// with the given rate limit; it returns the key.
func create(ctx context.Context, st *store.Store, spec namespace.Spec, status *namespace.Status, rate string) (string, error) {
	if err := st.CreateNamespace(ctx, spec); err != nil {
		return "", err
	}
	if status != nil {
		if err := st.PutStatus(ctx, spec.Name, *status); err != nil {
			return "", err
		}
	}
	k, secret, err := apikey.New(spec.Name, "seed", rate, 0, time.Now())
	if err != nil {
		return "", err
	}
	return secret, st.CreateAPIKey(ctx, k)
}
