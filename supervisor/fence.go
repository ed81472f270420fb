package supervisor

// Fence says whether this node may start gateways: with volumes on shared
// storage a node out of touch with the store stops its gateways, since
// the other nodes may start them on the same data (failover.Watcher).
type Fence interface {
	Fenced() bool
}

// fenced reports that nothing may start here now.
func (s *Supervisor) fenced() bool {
	return s.cfg.Fence != nil && s.cfg.Fence.Fenced()
}
