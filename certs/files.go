package certs

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// fileSet is an immutable snapshot of the certificate directory, swapped
// whole on reload so handshakes never take a lock.
type fileSet struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // "*.example.com" under "example.com"
	// stamp is what the directory looked like when read; a different one
	// means it must be read again.
	stamp string
}

func (s *fileSet) lookup(name string) *tls.Certificate {
	if c := s.exact[name]; c != nil {
		return c
	}
	if _, parent, ok := strings.Cut(name, "."); ok {
		return s.wildcard[parent]
	}
	return nil
}

func (s *fileSet) len() int { return len(s.exact) + len(s.wildcard) }

// loadDir reads every NAME.crt with a NAME.key beside it. Each pair is
// served for the DNS names in its certificate, wildcards included; a
// certificate without any is served for NAME. A .crt without its .key, or
// a pair that does not parse, fails the load: a typo must not silently
// leave a host without its certificate.
func loadDir(dir string) (*fileSet, error) {
	stamp, err := dirStamp(dir)
	if err != nil {
		return nil, err
	}
	s := &fileSet{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}, stamp: stamp}
	crts, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(crts)
	for _, crt := range crts {
		stem := strings.TrimSuffix(filepath.Base(crt), ".crt")
		key := filepath.Join(dir, stem+".key")
		pair, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", crt, err)
		}
		names := pair.Leaf.DNSNames
		if len(names) == 0 {
			names = []string{stem}
		}
		for _, n := range names {
			n = strings.TrimSuffix(strings.ToLower(n), ".")
			if parent, ok := strings.CutPrefix(n, "*."); ok {
				s.wildcard[parent] = &pair
			} else {
				s.exact[n] = &pair
			}
		}
	}
	return s, nil
}

// dirStamp sums up the names, sizes and modification times of the pairs.
func dirStamp(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("reading certificate directory: %w", err)
	}
	var b strings.Builder
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".crt") && !strings.HasSuffix(n, ".key") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return "", err
		}
		fmt.Fprintf(&b, "%s:%d:%d;", n, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// reloadInterval is how often the certificate directory is checked for
// changes, so renewed files are picked up without a restart.
const reloadInterval = 30 * time.Second
