// Command fakeprovider serves the fake model provider for manual demos of
// clawd's model gateway: point a provider's base URL at it
// (http://<listen>/v1 for the OpenAI shapes, http://<listen> for
// Anthropic's) and give it the same API key.
package main

import (
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/clawd-dev/clawd/modelgw/fakeprovider"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8089", "address to serve on")
	key := flag.String("api-key", "", "API key requests must carry (empty accepts any)")
	reply := flag.String("reply", fakeprovider.DefaultReply, "the assistant's text")
	delay := flag.Duration("chunk-delay", 20*time.Millisecond, "delay between streamed events")
	flag.Parse()

	p := fakeprovider.New(fakeprovider.Options{APIKey: *key, Reply: *reply, ChunkDelay: *delay})
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("fake provider on http://%s (OpenAI base URL http://%s/v1, Anthropic http://%s)", *listen, *listen, *listen)
	log.Fatal(srv.ListenAndServe())
}
