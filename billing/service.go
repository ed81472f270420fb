package billing

import (
	"context"
	"errors"
	"fmt"
	"github.com/clawd-dev/clawd/audit"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stripe/stripe-go/v85"

	"github.com/clawd-dev/clawd/namespace"
	"github.com/clawd-dev/clawd/quota"
	"github.com/clawd-dev/clawd/store"
)

// Config wires a Service.
type Config struct {
	Store   Store
	Secrets Sealer
	Quotas  Quotas
	// APIBase is Stripe's API (--billing.stripe.apiBase).
	APIBase string
	// HTTPClient reaches Stripe; nil: a default with a 30 s timeout.
	HTTPClient *http.Client
	// Node is this node's name: it sends the usage of the namespaces it runs.
	Node   string
	Logger hclog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Audit records webhook effects, suspensions and resumes; nil: none.
	Audit audit.Recorder
}

// Service is clawd's billing.
type Service struct {
	cfg Config
	log hclog.Logger

	mu     sync.Mutex
	client *stripe.Client
	keyFor string // the sealed key client was made for

	usage usageState
	// lateAt is when the late-usage pass last read its window.
	lateAt atomic.Pointer[time.Time]
}

// New returns the billing service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// settings returns the stored settings and a Stripe client for them.
func (s *Service) settings(ctx context.Context) (Settings, *stripe.Client, error) {
	set, _, err := getJSON[Settings](ctx, s.cfg.Store, keySettings)
	if errors.Is(err, store.ErrNotFound) {
		return set, nil, ErrNotConfigured
	}
	if err != nil {
		return set, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil || s.keyFor != set.SealedAPIKey {
		key, err := s.cfg.Secrets.Open(set.SealedAPIKey, ctxAPIKey)
		if err != nil {
			return set, nil, fmt.Errorf("opening the Stripe API key: %w", err)
		}
		s.client, s.keyFor = newStripe(string(key), s.cfg.APIBase, s.cfg.HTTPClient), set.SealedAPIKey
	}
	return set, s.client, nil
}

// ConfigureRequest is `clawd billing configure`.
type ConfigureRequest struct {
	Provider      string `json:"provider"`
	APIKey        string `json:"apiKey"`
	WebhookSecret string `json:"webhookSecret"`
}

// ConfigureReply says what was stored (never the secrets).
type ConfigureReply struct {
	Provider     string    `json:"provider"`
	Livemode     bool      `json:"livemode"`
	ConfiguredAt time.Time `json:"configuredAt"`
}

// Configure checks the API key against Stripe at once and stores both
// secrets sealed. A key Stripe refuses is refused with Stripe's message.
func (s *Service) Configure(ctx context.Context, req ConfigureRequest) (ConfigureReply, error) {
	if !strings.EqualFold(req.Provider, "stripe") {
		return ConfigureReply{}, invalid("invalid --provider %q: only stripe is supported", req.Provider)
	}
	if !strings.HasPrefix(req.APIKey, "sk_") && !strings.HasPrefix(req.APIKey, "rk_") {
		return ConfigureReply{}, invalid("invalid --api-key: a Stripe secret key starts with sk_ (or rk_ for a restricted key)")
	}
	if !strings.HasPrefix(req.WebhookSecret, "whsec_") {
		return ConfigureReply{}, invalid("invalid --webhook-secret: a Stripe webhook signing secret starts with whsec_")
	}
	sc := newStripe(req.APIKey, s.cfg.APIBase, s.cfg.HTTPClient)
	bal, err := sc.V1Balance.Retrieve(ctx, &stripe.BalanceRetrieveParams{})
	if err != nil {
		if refused(err) {
			return ConfigureReply{}, InvalidError{StripeError{Op: "checking the API key", Err: err}}
		}
		return ConfigureReply{}, StripeError{Op: "checking the API key", Err: err}
	}
	key, err := s.cfg.Secrets.Seal([]byte(req.APIKey), ctxAPIKey)
	if err != nil {
		return ConfigureReply{}, err
	}
	hook, err := s.cfg.Secrets.Seal([]byte(req.WebhookSecret), ctxWebhookSecret)
	if err != nil {
		return ConfigureReply{}, err
	}
	now := s.now()
	_, err = update(ctx, s.cfg.Store, keySettings, func(set *Settings) error {
		set.Provider, set.SealedAPIKey, set.SealedWebhookSecret, set.ConfiguredAt = "stripe", key, hook, now
		return nil
	})
	if err != nil {
		return ConfigureReply{}, err
	}
	s.log.Info("billing configured", "provider", "stripe", "livemode", bal.Livemode)
	return ConfigureReply{Provider: "stripe", Livemode: bal.Livemode, ConfiguredAt: now}, nil
}

// PlanRequest is `clawd billing plan create`.
type PlanRequest struct {
	Name     string `json:"name"`
	Price    string `json:"price"`
	Currency string `json:"currency"`
	Interval string `json:"interval"`
	// Quotas is the quota file's text (YAML); its namespace: key names the
	// file's example tenant, the limits apply to each subscriber.
	Quotas string `json:"quotas,omitempty"`
	// Metered prices by kind (tokens, requests: per 1000; storage: per
	// GiB-hour), as decimal amounts.
	Metered map[string]string `json:"metered,omitempty"`
}

// CreatePlan validates everything, then creates the Stripe product and
// prices and stores the plan.
func (s *Service) CreatePlan(ctx context.Context, req PlanRequest) (Plan, error) {
	if err := namespace.ValidateName(req.Name); err != nil {
		return Plan{}, invalid("invalid plan name %q: use 1-40 lowercase letters, digits and '-'", req.Name)
	}
	cur, err := ParseCurrency(req.Currency)
	if err != nil {
		return Plan{}, InvalidError{err}
	}
	amount, err := ParseAmount(req.Price, cur)
	if err != nil {
		return Plan{}, InvalidError{err}
	}
	interval, err := ParseInterval(req.Interval)
	if err != nil {
		return Plan{}, InvalidError{err}
	}
	if req.Quotas != "" {
		if _, err := quota.Parse([]byte(req.Quotas)); err != nil {
			return Plan{}, invalid("invalid --quotas file: %v", err)
		}
	}
	p := Plan{Name: req.Name, Amount: amount, Currency: cur, Interval: interval, Quotas: req.Quotas, CreatedAt: s.now()}
	names := make([]string, 0, len(req.Metered))
	for n := range req.Metered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		k, ok := kindNamed(n)
		if !ok {
			return Plan{}, invalid("invalid metered price %q: use tokens, requests or storage", n)
		}
		dec, err := ParseUnitPrice("price-per-"+strings.ReplaceAll(k.perText, " ", "-"), req.Metered[n], cur, k.per)
		if err != nil {
			return Plan{}, InvalidError{err}
		}
		p.Metered = append(p.Metered, MeteredPrice{Kind: k.name, UnitAmountDecimal: dec, Per: k.perText, Price: req.Metered[n]})
	}
	if _, _, err := s.cfg.Store.GetBilling(ctx, prefixPlan+p.Name); err == nil {
		return Plan{}, fmt.Errorf("plan %s %w (plan names are unique)", p.Name, store.ErrExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Plan{}, err
	}
	_, sc, err := s.settings(ctx)
	if err != nil {
		return Plan{}, err
	}
	prod, err := sc.V1Products.Create(ctx, &stripe.ProductCreateParams{
		Name:     stripe.String("clawd plan " + p.Name),
		Metadata: map[string]string{"clawd_plan": p.Name},
	})
	if err != nil {
		return Plan{}, StripeError{Op: "creating the plan's product", Err: err}
	}
	p.ProductID = prod.ID
	price, err := sc.V1Prices.Create(ctx, &stripe.PriceCreateParams{
		Product:    stripe.String(prod.ID),
		Currency:   stripe.String(cur),
		UnitAmount: stripe.Int64(amount),
		Recurring:  &stripe.PriceCreateRecurringParams{Interval: stripe.String(interval)},
		Metadata:   map[string]string{"clawd_plan": p.Name},
	})
	if err != nil {
		return Plan{}, StripeError{Op: "creating the plan's price", Err: err}
	}
	p.PriceID = price.ID
	for i := range p.Metered {
		m := &p.Metered[i]
		k, _ := kindNamed(m.Kind)
		meter, err := s.meter(ctx, sc, k)
		if err != nil {
			return Plan{}, err
		}
		params := &stripe.PriceCreateParams{
			Product:   stripe.String(prod.ID),
			Currency:  stripe.String(cur),
			Recurring: &stripe.PriceCreateRecurringParams{Interval: stripe.String(interval), UsageType: stripe.String("metered"), Meter: stripe.String(meter)},
			Nickname:  stripe.String(p.Name + " " + k.name),
			Metadata:  map[string]string{"clawd_plan": p.Name, "clawd_usage": k.name},
		}
		// The decimal goes as the string it is: stripe-go's field is a float64.
		params.AddExtra("unit_amount_decimal", m.UnitAmountDecimal)
		mp, err := sc.V1Prices.Create(ctx, params)
		if err != nil {
			return Plan{}, StripeError{Op: "creating the plan's " + k.name + " price", Err: err}
		}
		m.PriceID, m.MeterID = mp.ID, meter
	}
	if err := putJSON(ctx, s.cfg.Store, prefixPlan+p.Name, p, 0); err != nil {
		// Another create of the same name won: ours is archived in Stripe.
		_, _ = sc.V1Products.Update(ctx, prod.ID, &stripe.ProductUpdateParams{Active: stripe.Bool(false)})
		return Plan{}, err
	}
	s.log.Info("billing plan created", "plan", p.Name, "amount", FormatAmount(amount, cur), "interval", interval, "product", p.ProductID, "price", p.PriceID, "metered", len(p.Metered))
	return p, nil
}

// meter returns the Stripe meter of a usage kind: the one remembered in
// the settings, else one with its event name found in Stripe, else a new one.
func (s *Service) meter(ctx context.Context, sc *stripe.Client, k kind) (string, error) {
	set, _, err := getJSON[Settings](ctx, s.cfg.Store, keySettings)
	if err != nil {
		return "", err
	}
	if id := set.Meters[k.name]; id != "" {
		return id, nil
	}
	var id string
	for m, err := range sc.V1BillingMeters.List(ctx, &stripe.BillingMeterListParams{Status: stripe.String("active")}).All(ctx) {
		if err != nil {
			return "", StripeError{Op: "listing meters", Err: err}
		}
		if m.EventName == k.eventName {
			id = m.ID
			break
		}
	}
	if id == "" {
		m, err := sc.V1BillingMeters.Create(ctx, &stripe.BillingMeterCreateParams{
			DisplayName:        stripe.String("clawd " + k.name),
			EventName:          stripe.String(k.eventName),
			DefaultAggregation: &stripe.BillingMeterCreateDefaultAggregationParams{Formula: stripe.String("sum")},
			CustomerMapping:    &stripe.BillingMeterCreateCustomerMappingParams{EventPayloadKey: stripe.String("stripe_customer_id"), Type: stripe.String("by_id")},
			ValueSettings:      &stripe.BillingMeterCreateValueSettingsParams{EventPayloadKey: stripe.String("value")},
		})
		if err != nil {
			return "", StripeError{Op: "creating the " + k.name + " meter", Err: err}
		}
		id = m.ID
	}
	_, err = update(ctx, s.cfg.Store, keySettings, func(set *Settings) error {
		if set.Meters == nil {
			set.Meters = map[string]string{}
		}
		set.Meters[k.name] = id
		return nil
	})
	return id, err
}

// ListPlans returns every plan, by name.
func (s *Service) ListPlans(ctx context.Context) ([]Plan, error) {
	recs, err := s.cfg.Store.ListBilling(ctx, prefixPlan)
	if err != nil {
		return nil, err
	}
	out := []Plan{}
	for name := range recs {
		p, _, err := getJSON[Plan](ctx, s.cfg.Store, prefixPlan+name)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Service) plan(ctx context.Context, name string) (Plan, error) {
	p, _, err := getJSON[Plan](ctx, s.cfg.Store, prefixPlan+name)
	if errors.Is(err, store.ErrNotFound) {
		return p, fmt.Errorf("plan %s: %w (see clawd billing plan list)", name, store.ErrNotFound)
	}
	return p, err
}

// SubscribeRequest is `clawd billing subscribe`.
type SubscribeRequest struct {
	Plan          string `json:"plan"`
	PaymentMethod string `json:"paymentMethod,omitempty"`
}

// Subscribe gives ns's customer (created once) the plan: a new
// subscription, or the old one's items swapped; the plan's quotas apply at once.
func (s *Service) Subscribe(ctx context.Context, ns string, req SubscribeRequest) (Customer, error) {
	if err := namespace.ValidateName(ns); err != nil {
		return Customer{}, InvalidError{err}
	}
	if req.PaymentMethod != "" && !strings.HasPrefix(req.PaymentMethod, "pm_") {
		return Customer{}, invalid("invalid --payment-method %q: a Stripe payment method id starts with pm_", req.PaymentMethod)
	}
	if _, err := s.cfg.Store.GetNamespace(ctx, ns); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Customer{}, fmt.Errorf("namespace %s: %w (create it first)", ns, store.ErrNotFound)
		}
		return Customer{}, err
	}
	plan, err := s.plan(ctx, req.Plan)
	if err != nil {
		return Customer{}, err
	}
	_, sc, err := s.settings(ctx)
	if err != nil {
		return Customer{}, err
	}
	c, err := s.customer(ctx, sc, ns)
	if err != nil {
		return Customer{}, err
	}
	if req.PaymentMethod != "" {
		if _, err := sc.V1PaymentMethods.Attach(ctx, req.PaymentMethod, &stripe.PaymentMethodAttachParams{Customer: stripe.String(c.CustomerID)}); err != nil {
			return Customer{}, StripeError{Op: "attaching the payment method", Err: err}
		}
		if _, err := sc.V1Customers.Update(ctx, c.CustomerID, &stripe.CustomerUpdateParams{
			InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(req.PaymentMethod)},
		}); err != nil {
			return Customer{}, StripeError{Op: "making the payment method the default", Err: err}
		}
		c.PaymentMethod = req.PaymentMethod
	}
	if c.SubscriptionID != "" && c.Plan == plan.Name {
		// Already on this plan: nothing to swap; its quotas are applied again.
		if err := s.applyPlanQuotas(ctx, ns, plan); err != nil {
			return c, err
		}
		return c, nil
	}
	prices := []string{plan.PriceID}
	for _, m := range plan.Metered {
		prices = append(prices, m.PriceID)
	}
	var sub *stripe.Subscription
	if c.SubscriptionID == "" {
		params := &stripe.SubscriptionCreateParams{
			Customer: stripe.String(c.CustomerID),
			Metadata: map[string]string{"clawd_namespace": ns, "clawd_plan": plan.Name},
		}
		for _, p := range prices {
			params.Items = append(params.Items, &stripe.SubscriptionCreateItemParams{Price: stripe.String(p)})
		}
		sub, err = sc.V1Subscriptions.Create(ctx, params)
		if err != nil {
			return Customer{}, StripeError{Op: "creating the subscription", Err: err}
		}
	} else {
		// A plan change: the old items go, the new plan's come, in one update.
		params := &stripe.SubscriptionUpdateParams{Metadata: map[string]string{"clawd_namespace": ns, "clawd_plan": plan.Name}}
		for _, id := range c.Items {
			params.Items = append(params.Items, &stripe.SubscriptionUpdateItemParams{ID: stripe.String(id), Deleted: stripe.Bool(true)})
		}
		for _, p := range prices {
			params.Items = append(params.Items, &stripe.SubscriptionUpdateItemParams{Price: stripe.String(p)})
		}
		sub, err = sc.V1Subscriptions.Update(ctx, c.SubscriptionID, params)
		if err != nil {
			return Customer{}, StripeError{Op: "changing the subscription's plan", Err: err}
		}
	}
	items := []string{}
	if sub.Items != nil {
		for _, it := range sub.Items.Data {
			items = append(items, it.ID)
		}
	}
	c, err = update(ctx, s.cfg.Store, prefixCust+ns, func(rec *Customer) error {
		rec.Namespace, rec.CustomerID = ns, c.CustomerID
		if req.PaymentMethod != "" {
			rec.PaymentMethod = req.PaymentMethod
		}
		rec.Plan, rec.SubscriptionID, rec.Items = plan.Name, sub.ID, items
		return nil
	})
	if err != nil {
		return Customer{}, err
	}
	if err := s.applyPlanQuotas(ctx, ns, plan); err != nil {
		return c, err
	}
	s.log.Info("namespace subscribed", "namespace", ns, "plan", plan.Name, "customer", c.CustomerID, "subscription", sub.ID)
	return c, nil
}

// applyPlanQuotas applies the plan's quota file to ns (the file's own
// namespace: key names its example tenant), or removes the quotas of a
// plan without one.
func (s *Service) applyPlanQuotas(ctx context.Context, ns string, plan Plan) error {
	if plan.Quotas == "" {
		return s.cfg.Quotas.ClearQuota(ctx, ns)
	}
	if err := s.cfg.Quotas.ApplyQuota(ctx, ns, []byte(plan.Quotas)); err != nil {
		return fmt.Errorf("applying plan %s's quotas to %s: %w", plan.Name, ns, err)
	}
	return nil
}

// customer returns ns's customer record, creating the Stripe customer the
// first time. The idempotency key makes a retry after a lost store write
// (within Stripe's 24 h) return the same customer.
func (s *Service) customer(ctx context.Context, sc *stripe.Client, ns string) (Customer, error) {
	c, _, err := getJSON[Customer](ctx, s.cfg.Store, prefixCust+ns)
	if err == nil && c.CustomerID != "" {
		return c, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, err
	}
	params := &stripe.CustomerCreateParams{
		Name:     stripe.String(ns),
		Metadata: map[string]string{"clawd_namespace": ns},
	}
	params.SetIdempotencyKey("clawd-customer-" + ns + "-" + s.now().Format("2006-01-02"))
	cus, err := sc.V1Customers.Create(ctx, params)
	if err != nil {
		return c, StripeError{Op: "creating the customer", Err: err}
	}
	return update(ctx, s.cfg.Store, prefixCust+ns, func(rec *Customer) error {
		if rec.CustomerID == "" {
			rec.Namespace, rec.CustomerID = ns, cus.ID
		}
		return nil
	})
}

// Unsubscribe cancels ns's subscription now and removes its plan's quotas.
func (s *Service) Unsubscribe(ctx context.Context, ns string) (Customer, error) {
	if err := namespace.ValidateName(ns); err != nil {
		return Customer{}, InvalidError{err}
	}
	c, _, err := getJSON[Customer](ctx, s.cfg.Store, prefixCust+ns)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.SubscriptionID == "") {
		return Customer{}, fmt.Errorf("namespace %s has no subscription: %w", ns, store.ErrNotFound)
	}
	if err != nil {
		return Customer{}, err
	}
	_, sc, err := s.settings(ctx)
	if err != nil {
		return Customer{}, err
	}
	if _, err := sc.V1Subscriptions.Cancel(ctx, c.SubscriptionID, &stripe.SubscriptionCancelParams{}); err != nil {
		return Customer{}, StripeError{Op: "cancelling the subscription", Err: err}
	}
	c, err = s.endSubscription(ctx, ns, c.SubscriptionID)
	if err != nil {
		return c, err
	}
	s.log.Info("namespace unsubscribed", "namespace", ns)
	return c, nil
}

// endSubscription forgets subscription sub of ns and removes the plan's
// quotas; a record already on another subscription is left alone.
func (s *Service) endSubscription(ctx context.Context, ns, sub string) (Customer, error) {
	ended := false
	c, err := update(ctx, s.cfg.Store, prefixCust+ns, func(rec *Customer) error {
		ended = rec.SubscriptionID == sub
		if ended {
			rec.SubscriptionID, rec.Items, rec.Plan = "", nil, ""
		}
		return nil
	})
	if err != nil || !ended {
		return c, err
	}
	if err := s.cfg.Quotas.ClearQuota(ctx, ns); err != nil && !errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("removing %s's plan quotas: %w", ns, err)
	}
	return c, nil
}

// Invoice is one invoice as `clawd billing invoices` shows it.
type Invoice struct {
	ID          string    `json:"id"`
	Number      string    `json:"number"`
	PeriodStart time.Time `json:"periodStart"`
	PeriodEnd   time.Time `json:"periodEnd"`
	AmountDue   int64     `json:"amountDue"`
	AmountPaid  int64     `json:"amountPaid"`
	Currency    string    `json:"currency"`
	Amount      string    `json:"amount"` // AmountDue formatted
	Status      string    `json:"status"`
	HostedURL   string    `json:"hostedUrl,omitempty"`
}

// Invoices lists ns's customer's newest invoices from Stripe.
func (s *Service) Invoices(ctx context.Context, ns string, limit int) ([]Invoice, error) {
	if err := namespace.ValidateName(ns); err != nil {
		return nil, InvalidError{err}
	}
	if limit < 1 || limit > 100 {
		return nil, invalid("invalid --limit %d: use 1 to 100", limit)
	}
	c, _, err := getJSON[Customer](ctx, s.cfg.Store, prefixCust+ns)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("namespace %s has no billing customer (subscribe it first): %w", ns, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	_, sc, err := s.settings(ctx)
	if err != nil {
		return nil, err
	}
	params := &stripe.InvoiceListParams{Customer: stripe.String(c.CustomerID)}
	params.Limit = stripe.Int64(int64(limit))
	out := []Invoice{}
	for inv, err := range sc.V1Invoices.List(ctx, params).All(ctx) {
		if err != nil {
			return nil, StripeError{Op: "listing invoices", Err: err}
		}
		out = append(out, Invoice{ID: inv.ID, Number: inv.Number,
			PeriodStart: time.Unix(inv.PeriodStart, 0).UTC(), PeriodEnd: time.Unix(inv.PeriodEnd, 0).UTC(),
			AmountDue: inv.AmountDue, AmountPaid: inv.AmountPaid, Currency: string(inv.Currency),
			Amount: FormatAmount(inv.AmountDue, string(inv.Currency)), Status: string(inv.Status), HostedURL: inv.HostedInvoiceURL})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}
