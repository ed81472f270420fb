package router

import "strings"

// Owns says whether a namespace has host among its hostnames: the host
// policy of automatic certificates, so a certificate is only ever asked for
// a name a tenant has claimed.
func (r *Router) Owns(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	_, ok := r.table.Load().byHost[host]
	return ok
}
