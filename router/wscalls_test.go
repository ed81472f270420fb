package router

import (
	"bufio"
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type callLog struct{ calls []string }

func (c *callLog) AuditCall(ns, keyID, method string, refused bool) {
	c.calls = append(c.calls, fmt.Sprintf("%s %s %s %v", ns, keyID, method, refused))
}

// Each request frame a client sends is audited once with its method, read
// on past the quota's decision (which "type" alone settles), through
// fragments; other messages are not audited.
func TestRelayAuditsEachRequestWithItsMethod(t *testing.T) {
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	big := strings.Repeat("x", 40) // clientFrame makes short frames only
	in := cat(
		clientFrame(true, opText, `{"type":"req","id":1,"method":"connect","params":{}}`),
		clientFrame(true, opText, `{"type":"event","method":"not.a.request"}`),
		clientFrame(false, opText, `{"type":"req","id":"2",`),
		clientFrame(true, 0x9, "ping"),
		clientFrame(true, opContinuation, `"params":{"text":"`+big+`"},"method":"chat.send"}`),
		clientFrame(true, opText, `{"type":"req","id":3,"method":{"odd":1}}`),
		clientFrame(true, opText, `{"type":"req","id":4,"method":"sessions.list"`), // cut short
	)
	for _, refuse := range []bool{false, true} {
		r := New(nil)
		var q Requests = &every{}
		if refuse {
			q = &none{}
		}
		r.CountRequests(q)
		log := &callLog{}
		r.AuditCalls(log)
		gw, client := &sink{}, &sink{}
		w := &relay{r: r, ns: "gw", keyID: "k1", limit: 5, backend: gw, client: client}
		_ = w.fromClient(bufio.NewReaderSize(bytes.NewReader(in), 16<<10))
		want := []string{}
		for _, m := range []string{"connect", "chat.send", "", "sessions.list"} {
			want = append(want, fmt.Sprintf("gw k1 %s %v", m, refuse))
		}
		if !reflect.DeepEqual(log.calls, want) {
			t.Errorf("refuse=%v: audited %q, want %q", refuse, log.calls, want)
		}
	}
}
