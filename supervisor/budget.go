package supervisor

// MemoryBudget returns the memory budget (0: none) and what this node's
// gateways and warm spares hold or are promised of it, as reserve counts
// it (clawd status, the console's overview).
func (s *Supervisor) MemoryBudget() (budget, used int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.MemoryBudget, s.usedLocked("")
}
