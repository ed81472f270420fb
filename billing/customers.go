package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
)

// Customers lists the namespaces billing has a record of (a customer in
// Stripe, maybe a plan and a subscription), by name: the console's plan
// column. It reads the store only; nothing is sent to Stripe.
func (s *Service) Customers(ctx context.Context) ([]Customer, error) {
	recs, err := s.cfg.Store.ListBilling(ctx, prefixCust)
	if err != nil {
		return nil, err
	}
	out := make([]Customer, 0, len(recs))
	for ns, data := range recs {
		var c Customer
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("billing record of %s: %w", ns, err)
		}
		if c.Namespace == "" {
			c.Namespace = ns
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out, nil
}
