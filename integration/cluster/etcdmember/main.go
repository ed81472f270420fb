// Command etcdmember runs one member of a multi-member etcd cluster for the
// cluster test harness (scripts/cluster.sh). clawd's embedded etcd always
// forms a cluster of one; the harness needs three real members, built from
// the etcd server packages go.mod already pins, so no etcd binary has to
// be downloaded.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	name := flag.String("name", "", "member name")
	dir := flag.String("data-dir", "", "data directory")
	client := flag.String("client-url", "", "client URL, e.g. http://10.231.0.1:23791")
	peer := flag.String("peer-url", "", "peer URL, e.g. http://10.231.0.1:23801")
	initial := flag.String("initial-cluster", "", "name=peerURL,... of every member")
	flag.Parse()
	if err := run(*name, *dir, *client, *peer, *initial); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
}

func run(name, dir, client, peer, initial string) error {
	if name == "" || dir == "" || client == "" || peer == "" || initial == "" {
		return fmt.Errorf("-name, -data-dir, -client-url, -peer-url and -initial-cluster are all required")
	}
	curl, err := url.Parse(client)
	if err != nil {
		return fmt.Errorf("client url: %w", err)
	}
	purl, err := url.Parse(peer)
	if err != nil {
		return fmt.Errorf("peer url: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{*curl}
	cfg.AdvertiseClientUrls = []url.URL{*curl}
	cfg.ListenPeerUrls = []url.URL{*purl}
	cfg.AdvertisePeerUrls = []url.URL{*purl}
	cfg.InitialCluster = initial
	cfg.InitialClusterToken = "clawdc"
	cfg.LogLevel = "warn"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-e.Server.ReadyNotify():
		fmt.Println("ready")
	case err := <-e.Err():
		return err
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("not ready after 2m")
	case <-sig:
		return nil
	}
	select {
	case err := <-e.Err():
		return err
	case <-sig:
		return nil
	}
}
