package main

import (
	"os"
	goruntime "runtime"

	"github.com/hashicorp/go-hclog"
)

// smallHostProcs runs clawd on one P on a host of two CPUs or fewer, unless
// GOMAXPROCS is set. There clawd shares the cores with the gateways, and
// on one P the router forwards a request for about a third less CPU: with
// two, every batch of ready connections wakes a second thread, and thread
// wake-ups are what costs most on such hosts (make bench-router, with
// GOMAXPROCS=2 and =1). The other core stays with the tenants.
func smallHostProcs(log hclog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" || goruntime.NumCPU() > 2 || goruntime.GOMAXPROCS(0) == 1 {
		return
	}
	goruntime.GOMAXPROCS(1)
	log.Info("small host: running on one CPU (set GOMAXPROCS to change)", "cpus", goruntime.NumCPU())
}
