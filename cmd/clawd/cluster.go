package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/clawd-dev/clawd/config"
	"github.com/clawd-dev/clawd/peer"
	"github.com/clawd-dev/clawd/router"
	"github.com/clawd-dev/clawd/store"
)

// nodeLease is the TTL of a node's registration: others count it gone
// that long after it last renewed (plus --node.grace), and with shared
// volumes it fences itself (stops its gateways) after as long without
// the store.
const nodeLease = 10 * time.Second

// setupPeers has the router forward the requests of namespaces placed on
// other nodes to them, and, with --node.peeraddress, serves this node's
// namespaces to the other nodes' routers (mutual TLS with the cluster's
// own CA, see package peer).
func setupPeers(ctx context.Context, cfg *config.Static, st *store.Store, box peer.Sealer, rtr *router.Router, log hclog.Logger) error {
	peers, err := peer.New(ctx, cfg.Node.Name, st, box, log.Named("peer"))
	if err != nil {
		return err
	}
	peers.Refresh(ctx)
	rtr.SetPeers(cfg.Node.Name, peers)
	go peers.Run(ctx, time.Second)
	if cfg.Node.PeerAddress == "" {
		return nil
	}
	ln, err := tls.Listen("tcp", cfg.Node.PeerAddress, peers.ServerTLS())
	if err != nil {
		return fmt.Errorf("peer listener on %s: %w (set --node.peeraddress)", cfg.Node.PeerAddress, err)
	}
	srv := rtr.PeerServer(router.Limits{})
	go func() {
		if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
			log.Error("peer listener failed", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	log.Info("peer listener up", "address", ln.Addr().String())
	return nil
}
