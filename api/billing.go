package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/clawd-dev/clawd/billing"
	"github.com/clawd-dev/clawd/problem"
)

// Billing is what the billing endpoints need (billing.Service).
type Billing interface {
	Configure(ctx context.Context, req billing.ConfigureRequest) (billing.ConfigureReply, error)
	CreatePlan(ctx context.Context, req billing.PlanRequest) (billing.Plan, error)
	ListPlans(ctx context.Context) ([]billing.Plan, error)
	Subscribe(ctx context.Context, ns string, req billing.SubscribeRequest) (billing.Customer, error)
	Unsubscribe(ctx context.Context, ns string) (billing.Customer, error)
	Resume(ctx context.Context, ns string) (billing.Customer, error)
	Invoices(ctx context.Context, ns string, limit int) ([]billing.Invoice, error)
	Customers(ctx context.Context) ([]billing.Customer, error)
	HandleWebhook(ctx context.Context, payload []byte, signature string) (billing.WebhookResult, error)
	Status(ctx context.Context) (billing.Status, error)
}

var _ Billing = (*billing.Service)(nil)

// WebhookPath is where Stripe sends events: on the admin listener, without
// the admin token (the signature authenticates them).
const WebhookPath = "/api/v1/billing/stripe/webhook"

func (s *Server) routeBilling() {
	s.handle("PUT /api/v1/billing/settings", s.billingConfigure)
	s.handle("GET /api/v1/billing/plans", s.billingPlans)
	s.handle("POST /api/v1/billing/plans", s.billingCreatePlan)
	s.handle("PUT /api/v1/billing/subscriptions/{name}", s.billingSubscribe)
	s.handle("DELETE /api/v1/billing/subscriptions/{name}", s.billingOnNamespace(Billing.Unsubscribe))
	s.handle("POST /api/v1/billing/subscriptions/{name}/resume", s.billingOnNamespace(Billing.Resume))
	s.handle("GET /api/v1/billing/invoices/{name}", s.billingInvoices)
	s.handle("GET /api/v1/billing/subscriptions", s.billingCustomers)
	s.mux.HandleFunc("POST /api/v1/billing/stripe/webhook", s.billingWebhook)
}

var errNoBilling = conflict{errors.New("this server has no billing (it keeps no secrets key)")}

func (s *Server) billingConfigure(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	var req billing.ConfigureRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	rep, err := s.cfg.Billing.Configure(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rep, nil
}

func (s *Server) billingPlans(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	list, err := s.cfg.Billing.ListPlans(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, list, nil
}

func (s *Server) billingCreatePlan(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	var req billing.PlanRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	p, err := s.cfg.Billing.CreatePlan(r.Context(), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, p, nil
}

func (s *Server) billingSubscribe(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	var req billing.SubscribeRequest
	if err := decode(r, &req); err != nil {
		return 0, nil, err
	}
	c, err := s.cfg.Billing.Subscribe(r.Context(), r.PathValue("name"), req)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c, nil
}

// billingOnNamespace serves a call that changes one namespace's billing
// and answers with its customer record.
func (s *Server) billingOnNamespace(op func(Billing, context.Context, string) (billing.Customer, error)) func(*http.Request) (int, any, error) {
	return func(r *http.Request) (int, any, error) {
		if s.cfg.Billing == nil {
			return 0, nil, errNoBilling
		}
		c, err := op(s.cfg.Billing, r.Context(), r.PathValue("name"))
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, c, nil
	}
}

func (s *Server) billingInvoices(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	limit := 12
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, nil, invalid("invalid --limit %q: use a whole number from 1 to 100", v)
		}
		limit = n
	}
	list, err := s.cfg.Billing.Invoices(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, list, nil
}

// billingCustomers lists every namespace's billing record: its plan and
// subscription (the console's plan column).
func (s *Server) billingCustomers(r *http.Request) (int, any, error) {
	if s.cfg.Billing == nil {
		return 0, nil, errNoBilling
	}
	list, err := s.cfg.Billing.Customers(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, list, nil
}

// billingWebhook takes Stripe's events. It needs no admin token: an event
// counts only when its signature verifies.
func (s *Server) billingWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Billing == nil {
		problem.Error(w, http.StatusNotFound, "this server has no billing")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		problem.Error(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	res, err := s.cfg.Billing.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		p := problem.Problem{}
		p.Status, p.Detail = classify(err)
		if p.Status >= 500 {
			p.RequestID = requestID()
			p.Detail += " (request id " + p.RequestID + ")"
			s.log.Error("billing webhook failed", "request_id", p.RequestID, "error", err)
		} else {
			s.log.Warn("billing webhook refused", "error", err)
		}
		problem.Write(w, p)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = writeJSON(w, res)
}
