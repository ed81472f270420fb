package router

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/clawd-dev/clawd/apikey"
	"github.com/clawd-dev/clawd/problem"
	"github.com/clawd-dev/clawd/store"
	"github.com/clawd-dev/clawd/units"
)

// KeyToucher records when API keys were last used. The router finds it on
// its Watcher by type assertion; without it last use is not recorded.
type KeyToucher interface {
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
}

var _ KeyToucher = (*store.Store)(nil)

const (
	// touchInterval batches last-use writes: a key in constant use costs
	// one etcd write a minute, not one per request.
	touchInterval = time.Minute
	touchTimeout  = 5 * time.Second
	// usedResolution keeps a hot key's last-use clock from being written
	// by every request on every core.
	usedResolution = time.Second
	// maxSmallBurst is the burst a small limit gets in full; see burstFor.
	maxSmallBurst = 10
	apiKeyHeader  = "X-API-Key"
)

// keyEntry is what the request path needs of one key.
type keyEntry struct {
	id, namespace string
	rateLimit     string // canonical text; "" is unlimited
	rate          units.Rate
	expiresAt     time.Time
	revoked       bool
}

// keyTable is an immutable snapshot by secret hash, swapped whole like the
// host table so lookups take no lock and cost one map read however many
// keys exist.
type keyTable struct {
	byHash map[[sha256.Size]byte]*keyEntry
}

// keyAuth is the router's API key state.
type keyAuth struct {
	table atomic.Pointer[keyTable]
	// recs is the latest record of every key, owned by the key watch.
	recs map[string]apikey.Key
	// states holds each key's limiter and last use, by key id, created on
	// the key's first request. It outlives table swaps so a key's bucket
	// is not refilled by an unrelated change.
	states sync.Map
	ready  chan struct{}
	now    func() time.Time
}

// keyState is one key's mutable request-path state.
type keyState struct {
	lim     atomic.Pointer[limiter]
	used    atomic.Int64 // unix nanoseconds of the latest request
	flushed atomic.Int64 // the last use written to the store
	audited atomic.Int64 // unix nanoseconds of the last accepted event audited
}

// limiter is a token bucket for one rate limit text; a key whose limit
// changes gets a new one.
type limiter struct {
	spec  string
	burst int
	lim   *rate.Limiter
	// limit and policy are the fixed RateLimit fields, formatted once.
	limit, policy string
}

func (a *keyAuth) init() {
	a.table.Store(&keyTable{byHash: map[[sha256.Size]byte]*keyEntry{}})
	a.recs = map[string]apikey.Key{}
	a.ready = make(chan struct{})
	a.now = time.Now
}

// burstFor is the bucket size for a key's limit. A limit of up to 10
// requests per period may be spent at once (a "3/second" key can send 3
// requests together, as its owner would expect); a bigger one gets a
// tenth of its count, at least 10, so an idle "1000/hour" key can send 100
// at once but cannot push an hour's worth onto its gateway in a second.
// The sustained rate is N/period either way.
func burstFor(r units.Rate) int {
	n := r.N
	if n <= maxSmallBurst {
		return int(max(n, 1))
	}
	return int(min(max(n/10, maxSmallBurst), math.MaxInt32))
}

func newLimiter(spec string, r units.Rate) *limiter {
	b := burstFor(r)
	perSec := r.PerSecond()
	return &limiter{spec: spec, burst: b, lim: rate.NewLimiter(rate.Limit(perSec), b),
		limit:  strconv.Itoa(b),
		policy: fmt.Sprintf("%d;w=%d", b, ceilSeconds(float64(b), perSec))}
}

// runKeys keeps the key table in step with the store until ctx ends, and
// writes keys' last use back when the watcher can.
func (r *Router) runKeys(ctx context.Context, w Watcher) {
	if tc, ok := w.(KeyToucher); ok {
		go r.flushUseLoop(ctx, tc)
	}
	first := true
	events := w.WatchAPIKeys(ctx)
	for ev := range events {
		changed := r.auth.apply(ev)
		// As for namespaces: a burst of changes costs one rebuild.
		for more := true; more; {
			select {
			case ev, ok := <-events:
				if more = ok; ok {
					changed = r.auth.apply(ev) || changed
				}
			default:
				more = false
			}
		}
		if changed || first {
			r.auth.rebuild(r.log)
		}
		if first {
			close(r.auth.ready)
			first = false
		}
	}
}

// apply records one event and says whether the table must be rebuilt:
// last-use updates, the most frequent writes, change nothing it holds.
func (a *keyAuth) apply(ev store.APIKeyEvent) bool {
	switch ev.Type {
	case store.EventReset:
		a.recs = make(map[string]apikey.Key, len(ev.Snapshot))
		for _, k := range ev.Snapshot {
			a.recs[k.ID] = k
		}
		a.states.Range(func(id, _ any) bool {
			if _, ok := a.recs[id.(string)]; !ok {
				a.states.Delete(id)
			}
			return true
		})
		return true
	case store.EventPut:
		old, had := a.recs[ev.ID]
		a.recs[ev.ID] = ev.Key
		k := ev.Key
		return !had || old.Hash != k.Hash || old.Namespace != k.Namespace || old.RateLimit != k.RateLimit ||
			!old.ExpiresAt.Equal(k.ExpiresAt) || !old.RevokedAt.Equal(k.RevokedAt)
	case store.EventDelete:
		_, had := a.recs[ev.ID]
		delete(a.recs, ev.ID)
		a.states.Delete(ev.ID)
		return had
	}
	return false
}

// rebuild swaps in a fresh key table; see Router.rebuild for why.
func (a *keyAuth) rebuild(log hclog.Logger) {
	t := &keyTable{byHash: make(map[[sha256.Size]byte]*keyEntry, len(a.recs))}
	for _, k := range a.recs {
		e := &keyEntry{id: k.ID, namespace: k.Namespace, expiresAt: k.ExpiresAt, revoked: !k.RevokedAt.IsZero()}
		if k.RateLimit != "" {
			rt, err := units.ParseRate(k.RateLimit)
			if err != nil {
				// Refusing the key is safer than serving it unlimited.
				log.Error("refusing API key with an unreadable rate limit", "key_id", k.ID, "namespace", k.Namespace, "error", err)
				continue
			}
			e.rate, e.rateLimit = rt, rt.String()
		}
		var sum [sha256.Size]byte
		if n, err := hex.Decode(sum[:], []byte(k.Hash)); err != nil || n != len(sum) {
			log.Error("refusing API key with a malformed hash", "key_id", k.ID, "namespace", k.Namespace)
			continue
		}
		t.byHash[sum] = e
	}
	a.table.Store(t)
}

// presentedKey returns the clawd API key a request carries: any
// X-API-Key, or an "Authorization: Bearer sk-…". Other Authorization
// values are not clawd's and are left alone. Two different keys in one
// request are an error: which one applies would be a guess.
func presentedKey(h *fasthttp.RequestHeader) (key string, found bool, err error) {
	// PeekAll reuses one buffer per header: each list is read in full
	// before the next call.
	for _, v := range h.PeekAll(apiKeyHeader) {
		if key, err = sameKey(key, string(bytes.TrimSpace(v))); err != nil {
			return "", true, err
		}
		found = true
	}
	for _, v := range h.PeekAll(fasthttp.HeaderAuthorization) {
		if tok, ok := bearerKey(v); ok {
			if key, err = sameKey(key, string(tok)); err != nil {
				return "", true, err
			}
			found = true
		}
	}
	if !found {
		// A browser logged in at /__clawd/login; an explicit key wins.
		if c := h.Cookie(keyCookie); len(c) > 0 {
			return string(c), true, nil
		}
	}
	return key, found, nil
}

func sameKey(have, next string) (string, error) {
	if have != "" && have != next {
		return "", errors.New("the request carries two different API keys")
	}
	return next, nil
}

// bearerKey returns the token of a Bearer credential if it is a clawd key.
// The scheme is case-insensitive (RFC 9110, section 11.1).
func bearerKey(v []byte) ([]byte, bool) {
	if len(v) < 7 || !bytes.EqualFold(v[:7], []byte("bearer ")) {
		return nil, false
	}
	tok := bytes.TrimSpace(v[7:])
	return tok, bytes.HasPrefix(tok, []byte(apikey.SecretPrefix))
}

// stripKeys removes every clawd key from headers bound for a gateway: the
// gateway trusts the router, and a tenant's key is no business of the
// code running inside it.
func stripKeys(h *fasthttp.RequestHeader) {
	// Any field or cookie of the name goes, empty or not: an empty first
	// one must not shield a key behind it (found by FuzzRequestHead).
	if len(h.PeekAll(apiKeyHeader)) > 0 {
		h.Del(apiKeyHeader)
	}
	if len(h.Peek(fasthttp.HeaderCookie)) > 0 {
		h.DelCookie(keyCookie)
	}
	auth := h.PeekAll(fasthttp.HeaderAuthorization)
	if len(auth) == 0 {
		return
	}
	var kept []string
	clawd := false
	for _, v := range auth {
		if _, ok := bearerKey(v); ok {
			clawd = true
		} else {
			kept = append(kept, string(v))
		}
	}
	if !clawd {
		return
	}
	h.Del(fasthttp.HeaderAuthorization)
	for _, v := range kept {
		h.Add(fasthttp.HeaderAuthorization, v)
	}
}

// authenticate checks the request's API key, if any, and picks its route:
// the key's own namespace, whatever the Host unless the Host belongs to
// another namespace. A request without a key keeps the Host's route. It
// has answered the request when ok is false.
func (r *Router) authenticate(ctx *fasthttp.RequestCtx, x *exchange, t *table, host []byte, byHost *route) (*route, bool) {
	secret, keyed, err := presentedKey(&ctx.Request.Header)
	hostNS := ""
	if byHost != nil {
		hostNS = byHost.namespace
	}
	if !keyed {
		if byHost != nil && r.gated(byHost) && !r.signedIn(ctx, x, byHost) {
			r.audit(ctx, hostNS, "", AuthRefused, "no API key or sign-in")
			return nil, false
		}
		return byHost, true
	}
	if err != nil {
		r.audit(ctx, hostNS, "", AuthRefused, err.Error())
		unauthorized(ctx, keyProblem{Problem: problem.Problem{Detail: err.Error()}})
		return nil, false
	}
	now := r.auth.now()
	e, bad := r.auth.lookup(secret, now)
	x.keyed(e)
	if bad != nil {
		ns := hostNS
		if e != nil {
			ns = e.namespace
		}
		r.audit(ctx, ns, bad.KeyID, badKeyOutcome(e), bad.Detail)
		unauthorized(ctx, *bad)
		return nil, false
	}
	own := t.byName[e.namespace]
	if own == nil {
		// The store deletes a namespace's keys with it; this covers the
		// moment between the two watches, and keys a bug left behind.
		r.audit(ctx, e.namespace, e.id, AuthRefused, "the key's namespace no longer exists")
		unauthorized(ctx, keyProblem{Problem: problem.Problem{Title: "Invalid API key",
			Detail: fmt.Sprintf("API key %s belongs to a namespace that no longer exists", e.id)}, KeyID: e.id})
		return nil, false
	}
	if byHost != nil && byHost.namespace != e.namespace {
		// Both namespaces hear of it; the key's owner is not told the
		// host's namespace.
		r.audit(ctx, e.namespace, e.id, AuthWrongNamespace, "used on host "+string(host))
		r.audit(ctx, byHost.namespace, e.id, AuthWrongNamespace, "a key of another namespace")
		// Do not name the host's namespace: the key's owner has no right
		// to learn who else is served here.
		writeProblem(ctx, fasthttp.StatusForbidden, keyProblem{Problem: problem.Problem{Title: "Wrong namespace",
			Detail: fmt.Sprintf("API key %s is not valid for host %q; use it with its own namespace's hostname or any host no namespace owns", e.id, host)}, KeyID: e.id})
		return nil, false
	}

	st := r.auth.state(e.id)
	if e.rateLimit != "" && !r.allow(ctx, x, st, e, now) {
		r.audit(ctx, e.namespace, e.id, AuthRateLimited, "rate limit "+e.rateLimit)
		return nil, false
	}
	r.auditAccepted(ctx, st, e, now)
	if last := st.used.Load(); now.UnixNano()-last >= int64(usedResolution) {
		st.used.Store(now.UnixNano())
	}
	return own, true
}

// lookup finds the key with this secret and checks it can be used now;
// when it cannot, the problem says why (e may still be set).
func (a *keyAuth) lookup(secret string, now time.Time) (*keyEntry, *keyProblem) {
	// The hash is the lookup key, so no secret is ever compared byte by
	// byte and a timing side channel has nothing to leak.
	e := a.table.Load().byHash[sha256.Sum256([]byte(secret))]
	switch {
	case e == nil:
		return nil, &keyProblem{Problem: problem.Problem{Title: "Invalid API key",
			Detail: "unknown API key: check the key, or create one with 'clawd apikey create'"}}
	case e.revoked:
		return e, &keyProblem{Problem: problem.Problem{Title: "Invalid API key",
			Detail: fmt.Sprintf("API key %s has been revoked", e.id)}, KeyID: e.id}
	case !e.expiresAt.IsZero() && !now.Before(e.expiresAt):
		return e, &keyProblem{Problem: problem.Problem{Title: "Invalid API key",
			Detail: fmt.Sprintf("API key %s expired at %s", e.id, e.expiresAt.UTC().Format(time.RFC3339))}, KeyID: e.id}
	}
	return e, nil
}

// state returns a key's state, creating it on first use.
func (a *keyAuth) state(id string) *keyState {
	if v, ok := a.states.Load(id); ok {
		return v.(*keyState)
	}
	v, _ := a.states.LoadOrStore(id, &keyState{})
	return v.(*keyState)
}

// rateFields are the RateLimit header fields of one keyed request. They go
// on its reply whatever answers it: the router, or the gateway.
type rateFields struct {
	limit, policy, remaining, reset string
}

func (f *rateFields) set(h *fasthttp.ResponseHeader) {
	h.Set("Ratelimit-Limit", f.limit)
	h.Set("Ratelimit-Policy", f.policy)
	h.Set("Ratelimit-Remaining", f.remaining)
	h.Set("Ratelimit-Reset", f.reset)
}

// allow takes a token from the key's bucket and sets the RateLimit header
// fields of draft-ietf-httpapi-ratelimit-headers on every keyed response:
// Limit is the bucket size, Remaining the whole tokens left, Reset the
// seconds until the bucket is full again, and Policy the bucket as
// "burst;w=seconds to refill it". Over the limit it answers 429 with
// Retry-After and returns false.
func (r *Router) allow(ctx *fasthttp.RequestCtx, x *exchange, st *keyState, e *keyEntry, now time.Time) bool {
	lm := st.lim.Load()
	if lm == nil || lm.spec != e.rateLimit {
		fresh := newLimiter(e.rateLimit, e.rate)
		if st.lim.CompareAndSwap(lm, fresh) {
			lm = fresh
		} else {
			lm = st.lim.Load() // another request installed one first
		}
	}
	res := lm.lim.ReserveN(now, 1)
	wait := res.DelayFrom(now)
	if wait > 0 {
		// Give the token back: a refused request must not use up quota.
		res.CancelAt(now)
	}
	tokens := lm.lim.TokensAt(now)
	perSec := float64(lm.lim.Limit())
	x.rate = &rateFields{limit: lm.limit, policy: lm.policy,
		remaining: strconv.Itoa(max(0, int(math.Floor(tokens)))),
		reset:     strconv.Itoa(ceilSeconds(float64(lm.burst)-tokens, perSec))}
	if wait <= 0 {
		return true
	}
	x.setRateHeaders(&ctx.Response.Header)
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(wait.Seconds())))))
	writeProblem(ctx, fasthttp.StatusTooManyRequests, keyProblem{Problem: problem.Problem{Title: "Rate limit exceeded",
		Namespace: e.namespace,
		Detail: fmt.Sprintf("API key %s is over its rate limit of %s; retry in %s", e.id, e.rateLimit,
			wait.Round(time.Millisecond))}, KeyID: e.id, RateLimit: e.rateLimit})
	return false
}

// ceilSeconds is how many whole seconds refilling tokens takes.
func ceilSeconds(tokens, perSec float64) int {
	if tokens <= 0 || perSec <= 0 {
		return 0
	}
	return int(math.Ceil(tokens / perSec))
}

// keyProblem is a problem that names the key and its limit, so a client
// (and its operator) can tell which credential was refused and why.
type keyProblem struct {
	problem.Problem
	KeyID     string `json:"keyId,omitempty"`
	RateLimit string `json:"rateLimit,omitempty"`
}

func unauthorized(ctx *fasthttp.RequestCtx, p keyProblem) {
	writeProblem(ctx, fasthttp.StatusUnauthorized, p)
	ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="clawd", error="invalid_token"`)
}

// flushUseLoop writes keys' last use to the store every touchInterval.
func (r *Router) flushUseLoop(ctx context.Context, tc KeyToucher) {
	tick := time.NewTicker(touchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.auth.flushUse(ctx, tc, r.log)
	}
}

// FlushKeyUse writes the keys' last use now, for a shutdown: the batch
// of up to touchInterval would otherwise be lost.
func (r *Router) FlushKeyUse(ctx context.Context, tc KeyToucher) {
	r.auth.flushUse(ctx, tc, r.log)
}

// flushUse writes the last use of every key used since the previous
// flush, one write per key. A failed write is retried on the next pass.
func (a *keyAuth) flushUse(ctx context.Context, tc KeyToucher, log hclog.Logger) {
	a.states.Range(func(k, v any) bool {
		id, st := k.(string), v.(*keyState)
		used := st.used.Load()
		if used == 0 || used <= st.flushed.Load() {
			return true
		}
		cctx, cancel := context.WithTimeout(ctx, touchTimeout)
		err := tc.TouchAPIKey(cctx, id, time.Unix(0, used))
		cancel()
		switch {
		case errors.Is(err, store.ErrNotFound):
			a.states.Delete(id) // the key is gone; nothing to record
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("recording API key use failed; retrying next pass", "key_id", id, "error", err)
			}
		default:
			st.flushed.Store(used)
		}
		return ctx.Err() == nil
	})
}
