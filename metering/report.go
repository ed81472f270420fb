package metering

import (
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/clawd-dev/clawd/ledger"
	"github.com/clawd-dev/clawd/units"
)

// Report is one namespace's usage over a period, in the guide's shape,
// with its cost when the namespace has prices.
type Report struct {
	Namespace string    `json:"namespace"`
	Period    string    `json:"period"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"` // exclusive
	Usage     Usage     `json:"usage"`
	// Cost is absent for a namespace without prices: no zeros that look
	// like a price.
	Cost *Cost `json:"cost,omitempty"`
}

// Usage is a report's usage section: the guide's four figures first.
type Usage struct {
	APIRequests    int64  `json:"api_requests"`
	TokensUsed     int64  `json:"tokens_used"`
	SkillsExecuted int64  `json:"skills_executed"`
	StorageUsed    string `json:"storage_used"` // e.g. "2.3Gi"

	StorageBytes    int64            `json:"storage_bytes"`
	StorageGiBHours float64          `json:"storage_gib_hours"`
	InputTokens     int64            `json:"input_tokens"`
	OutputTokens    int64            `json:"output_tokens"`
	ModelCalls      int64            `json:"model_calls"`
	TokensByModel   map[string]int64 `json:"tokens_by_model"`
	CPUSeconds      float64          `json:"cpu_seconds"`
	MemoryGiBHours  float64          `json:"memory_gib_hours"`
}

// Cost prices a report's usage. A line is present only when its meter has
// a price; each is rounded to the cent (half to even) and Total is their
// sum, so the lines always add up.
type Cost struct {
	Currency string `json:"currency"`
	APICalls *Money `json:"api_calls,omitempty"`
	Tokens   *Money `json:"tokens,omitempty"`
	Storage  *Money `json:"storage,omitempty"`
	Compute  *Money `json:"compute,omitempty"`
	Total    Money  `json:"total"`
}

// Money is an amount in cents; it reads and writes as a decimal number.
type Money int64

func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%02d", sign, m/100, m%100)
}

// MarshalJSON writes 123.45, not a string and never a float's 123.4499….
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads what MarshalJSON writes.
func (m *Money) UnmarshalJSON(b []byte) error {
	r, ok := new(big.Rat).SetString(string(b))
	if !ok {
		return fmt.Errorf("invalid amount %s", b)
	}
	*m = cents(r)
	return nil
}

// Prices are what usage costs; a nil price leaves its meter unpriced.
type Prices struct {
	Currency string
	// APIRequests per 1,000 requests; Tokens per 1,000,000 tokens (input
	// and output); Storage per GiB-month (730 hours); CPU per CPU-hour;
	// Memory per GiB-hour.
	APIRequests, Tokens, Storage, CPU, Memory *big.Rat
}

// Any reports whether any meter has a price.
func (p Prices) Any() bool {
	return p.APIRequests != nil || p.Tokens != nil || p.Storage != nil || p.CPU != nil || p.Memory != nil
}

// Config keys of the operator's prices (see config/keys.go).
const (
	KeyCurrency    = "metering.currency"
	KeyAPIRequests = "metering.prices.apiRequests"
	KeyTokens      = "metering.prices.tokens"
	KeyStorage     = "metering.prices.storage"
	KeyCPU         = "metering.prices.cpu"
	KeyMemory      = "metering.prices.memory"
)

// PricesFromConfig reads the metering.prices.* keys from the stored
// dynamic config (values already validated when set).
func PricesFromConfig(cfg map[string]string) (Prices, error) {
	p := Prices{Currency: cfg[KeyCurrency]}
	if p.Currency == "" {
		p.Currency = "USD"
	}
	for key, dst := range map[string]**big.Rat{KeyAPIRequests: &p.APIRequests, KeyTokens: &p.Tokens,
		KeyStorage: &p.Storage, KeyCPU: &p.CPU, KeyMemory: &p.Memory} {
		v, ok := cfg[key]
		if !ok || v == "" {
			continue
		}
		r, ok := new(big.Rat).SetString(v)
		if !ok || r.Sign() < 0 {
			return Prices{}, fmt.Errorf("config %s=%q is not a price; set it again with clawd config set %s 0.50", key, v, key)
		}
		*dst = r
	}
	return p, nil
}

// hoursPerMonth prices storage: a GiB-month is 730 GiB-hours.
const hoursPerMonth = 730

// NewReport builds a namespace's report from its ledger sums.
func NewReport(period string, start, end time.Time, u ledger.Usage, p Prices) Report {
	r := Report{
		Namespace: u.Namespace, Period: period, Start: start.UTC(), End: end.UTC(),
		Usage: Usage{
			APIRequests:     u.APIRequests,
			TokensUsed:      u.InputTokens + u.OutputTokens,
			SkillsExecuted:  u.SkillsExecuted,
			StorageUsed:     units.HumanBytes(u.StorageBytes),
			StorageBytes:    u.StorageBytes,
			StorageGiBHours: u.StorageGiBHours,
			InputTokens:     u.InputTokens,
			OutputTokens:    u.OutputTokens,
			ModelCalls:      u.Calls,
			TokensByModel:   u.TokensByModel,
			CPUSeconds:      u.CPUSeconds,
			MemoryGiBHours:  u.MemoryGiBHours,
		},
	}
	if r.Usage.TokensByModel == nil {
		r.Usage.TokensByModel = map[string]int64{}
	}
	if p.Any() {
		r.Cost = price(r.Usage, p)
	}
	return r
}

func price(u Usage, p Prices) *Cost {
	c := &Cost{Currency: p.Currency}
	line := func(dst **Money, amount *big.Rat) {
		m := cents(amount)
		*dst = &m
		c.Total += m
	}
	if p.APIRequests != nil {
		line(&c.APICalls, mul(big.NewRat(u.APIRequests, 1000), p.APIRequests))
	}
	if p.Tokens != nil {
		line(&c.Tokens, mul(big.NewRat(u.TokensUsed, 1_000_000), p.Tokens))
	}
	if p.Storage != nil {
		line(&c.Storage, mul(quo(ratOf(u.StorageGiBHours), big.NewRat(hoursPerMonth, 1)), p.Storage))
	}
	if p.CPU != nil || p.Memory != nil {
		sum := new(big.Rat)
		if p.CPU != nil {
			sum.Add(sum, mul(quo(ratOf(u.CPUSeconds), big.NewRat(3600, 1)), p.CPU))
		}
		if p.Memory != nil {
			sum.Add(sum, mul(ratOf(u.MemoryGiBHours), p.Memory))
		}
		line(&c.Compute, sum)
	}
	return c
}

func mul(a, b *big.Rat) *big.Rat { return new(big.Rat).Mul(a, b) }
func quo(a, b *big.Rat) *big.Rat { return new(big.Rat).Quo(a, b) }

// ratOf is a float figure as an exact fraction of its shortest decimal
// form, so 0.1 CPU-hours prices as 0.1, not as the float's binary value.
func ratOf(f float64) *big.Rat {
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	if !ok {
		return new(big.Rat)
	}
	return r
}

// cents rounds an amount to whole cents, half to even.
func cents(amount *big.Rat) Money {
	x := new(big.Rat).Mul(amount, big.NewRat(100, 1))
	q, rem := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	// Compare 2·|rem| with the denominator to round half to even.
	twice := new(big.Int).Abs(rem)
	twice.Lsh(twice, 1)
	switch c := twice.Cmp(x.Denom()); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		if x.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return Money(q.Int64())
}
