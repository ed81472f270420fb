package modelgw

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

var (
	_ Sink          = (*discardSink)(nil)
	_ Authenticator = staticAuth{}
)

// discardSink counts usages, as a ledger's buffered channel would take them.
type discardSink struct{ n atomic.Int64 }

func (s *discardSink) Record(Usage) { s.n.Add(1) }

// TestBenchModelGateway prints figures, asserts nothing (make
// bench-modelgateway): calls per second and time to first token straight
// to the fake provider and through the Gateway, for whole and streamed
// replies, one call at a time and 64 at once.
//
// The client, the gateway and the provider share this machine's CPUs, so
// at concurrency 64 with a provider that answers instantly the gateway's
// own work (a second HTTP hop) is the bottleneck; the provider-paced rows
// (ChunkDelay between events, as a real model writes) show the ratio a
// real provider sees.
func TestBenchModelGateway(t *testing.T) {
	if os.Getenv("CLAWD_BENCH") != "1" {
		t.Skip("CLAWD_BENCH=1 runs the model gateway benchmark (make bench-modelgateway)")
	}
	calls := 4000
	if v := os.Getenv("CLAWD_BENCH_CALLS"); v != "" {
		fmt.Sscan(v, &calls)
	}

	type scenario struct {
		s      shape
		stream bool
		conc   int
		delay  time.Duration
	}
	var scenarios []scenario
	for _, s := range []shape{shapes[0], shapes[2]} {
		for _, stream := range []bool{false, true} {
			for _, conc := range []int{1, 64} {
				scenarios = append(scenarios, scenario{s, stream, conc, 0})
			}
		}
	}
	// A real model writes a token every 10–50 ms.
	for _, s := range []shape{shapes[0], shapes[2]} {
		for _, conc := range []int{1, 64} {
			scenarios = append(scenarios, scenario{s, true, conc, 20 * time.Millisecond})
		}
	}

	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}

	fmt.Printf("\nmodel gateway benchmark: %d calls per row (%d at concurrency 1), GOMAXPROCS=%d, %s\n",
		calls, calls/2, runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("client, gateway and fake provider share the machine; ttft = request sent → first reply word read\n")
	fmt.Printf("(for whole replies: → whole body read); added = gateway p50 − direct p50; ratio = gateway calls/s ÷ direct;\n")
	fmt.Printf("cpu/call = the process's CPU time (client, provider and, through the gateway, the gateway) per call\n\n")
	fmt.Printf("%-19s %-6s %-11s %4s  %-7s %9s %9s %9s %9s %6s %9s\n",
		"api", "reply", "provider", "conc", "path", "calls/s", "ttft p50", "ttft p99", "added", "ratio", "cpu/call")

	envs := map[time.Duration]*benchEnv{}
	for _, sc := range scenarios {
		be := envs[sc.delay]
		if be == nil {
			be = newBenchEnv(t, sc.delay)
			envs[sc.delay] = be
		}
		n := calls
		if sc.conc == 1 {
			n = calls / 2
		}
		if sc.delay > 0 {
			// 140 ms a call: at concurrency 1 only a few dozen (their
			// p99 is about the slowest).
			n = calls / 4
			if sc.conc == 1 {
				n = calls / 100
			}
		}
		body := sc.s.body(model, sc.stream)
		run := func(base string, direct bool) result {
			mk := func() *http.Request {
				if direct {
					return sc.s.direct(t, base, body)
				}
				return sc.s.request(t, base, nsToken, body)
			}
			measure(client, mk, sc.stream, min(200, n/10), sc.conc) // warm-up: connections, pools
			return measure(client, mk, sc.stream, n, sc.conc)
		}
		d := run(be.fakeURL, true)
		g := run(be.gwURL, false)
		provider := "instant"
		if sc.delay > 0 {
			provider = "paced " + sc.delay.String()
		}
		reply := "whole"
		if sc.stream {
			reply = "stream"
		}
		fmt.Printf("%-19s %-6s %-11s %4d  %-7s %9.0f %9s %9s %9s %6s %9s\n",
			sc.s.api, reply, provider, sc.conc, "direct", d.rate, ms(d.p50), ms(d.p99), "", "", us(d.cpu))
		fmt.Printf("%-19s %-6s %-11s %4d  %-7s %9.0f %9s %9s %9s %5.2fx %9s\n",
			"", "", "", sc.conc, "gateway", g.rate, ms(g.p50), ms(g.p99), "+"+ms(g.p50-d.p50), g.rate/d.rate, us(g.cpu))
		if d.errors+g.errors > 0 {
			fmt.Printf("  (%d direct and %d gateway calls failed)\n", d.errors, g.errors)
		}
	}
	for _, be := range envs {
		fmt.Printf("\nusage records (provider paced %v): %d\n", be.delay, be.sink.n.Load())
	}
}

type benchEnv struct {
	delay          time.Duration
	fakeURL, gwURL string
	sink           *discardSink
}

func newBenchEnv(t *testing.T, delay time.Duration) *benchEnv {
	fake := fakeprovider.New(fakeprovider.Options{APIKey: realKey, ChunkDelay: delay, KeepCalls: 1})
	fs := httptest.NewServer(fake)
	t.Cleanup(fs.Close)
	be := &benchEnv{delay: delay, fakeURL: fs.URL, sink: &discardSink{}}
	gw := New(Config{
		Providers: providerMap{
			"openai":    {Name: "openai", API: OpenAICompletions, BaseURL: fs.URL + "/v1", APIKey: realKey, Models: testModels},
			"anthropic": {Name: "anthropic", API: AnthropicMessages, BaseURL: fs.URL, APIKey: realKey, Models: testModels},
		},
		Auth:  staticAuth{},
		Sinks: []Sink{be.sink},
	})
	gs := httptest.NewServer(gw)
	t.Cleanup(gs.Close)
	be.gwURL = gs.URL
	return be
}

// staticAuth accepts the test token without bookkeeping.
type staticAuth struct{}

func (staticAuth) Authenticate(token string, _ netip.Addr) (string, bool) {
	return nsName, token == nsToken
}

type result struct {
	rate     float64
	p50, p99 time.Duration
	cpu      time.Duration // process CPU per call
	errors   int
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure makes n calls, conc at a time, and times each to its first
// reply word (streams) or its whole body.
func measure(client *http.Client, mk func() *http.Request, stream bool, n, conc int) result {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		ttfts  = make([]time.Duration, 0, n)
		errors int
		wg     sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/conc+1)
			bad := 0
			for next.Add(1) <= int64(n) {
				d, err := oneCall(client, mk(), stream)
				if err != nil {
					bad++
					continue
				}
				local = append(local, d)
			}
			mu.Lock()
			ttfts = append(ttfts, local...)
			errors += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	slices.Sort(ttfts)
	r := result{rate: float64(n) / elapsed.Seconds(), cpu: cpu / time.Duration(n), errors: errors}
	if len(ttfts) > 0 {
		r.p50 = ttfts[len(ttfts)/2]
		r.p99 = ttfts[len(ttfts)*99/100]
	}
	return r
}

var firstWord = []byte(strings.Fields(fakeprovider.DefaultReply)[0])

func oneCall(client *http.Client, req *http.Request, stream bool) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if !stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	br := bufio.NewReader(resp.Body)
	var ttft time.Duration
	for {
		line, err := br.ReadSlice('\n')
		if ttft == 0 && bytes.Contains(line, firstWord) {
			ttft = time.Since(start)
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, err
		}
	}
	if ttft == 0 {
		return 0, fmt.Errorf("no reply text")
	}
	return ttft, nil
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
