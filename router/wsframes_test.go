package router

import "testing"

// The scanner tells a request from other frames by its top-level "type",
// wherever it stands, and keeps the id to answer; what it cannot tell
// apart counts as a request.
func TestReqScan(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		req, not  bool // isReq; notReq once the whole message is read
		id        string
	}{
		{"request", `{"type":"req","id":"a1","method":"connect"}`, true, false, `"a1"`},
		{"number id", `{"id":42,"type":"req"}`, true, false, `42`},
		{"spaces", " {\n \"type\" : \"req\" ,\t\"id\" : 7 } ", true, false, `7`},
		{"type after params", `{"id":"x","params":{"type":"event","a":["}",{"b":"\""}]},"type":"req"}`, true, false, `"x"`},
		{"escaped id kept as sent", `{"type":"req","id":"a\"b"}`, true, false, `"a\"b"`},
		{"event", `{"type":"event","event":"tick"}`, false, true, `null`},
		{"nested type only", `{"params":{"type":"req"}}`, false, false, `null`},
		{"no type", `{"id":1}`, false, false, `1`},
		{"escaped key", `{"type":"event","ty\u0070e":"req"}`, false, false, `null`},
		{"escaped type value", `{"type":"r\u0065q"}`, false, false, `null`},
		{"type not a string", `{"type":{"x":"req"}}`, false, false, `null`},
		{"not an object", `["type","req"]`, false, false, `null`},
		{"not JSON", `hello`, false, false, `null`},
		{"cut short", `{"type":"event"`, false, false, `null`},
		{"object id", `{"type":"req","id":{"a":1}}`, true, false, `null`},
		{"two types, last wins", `{"type":"req","type":"event"}`, true, false, `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Fed in pieces of every size, masked: the same verdict.
			mask := [4]byte{1, 2, 3, 4}
			masked := []byte(tc.msg)
			for i := range masked {
				masked[i] ^= mask[i&3]
			}
			for step := 1; step <= len(masked); step++ {
				var s reqScan
				for off := 0; off < len(masked); off += step {
					end := min(off+step, len(masked))
					s.feed(masked[off:end], true, mask, int64(off))
				}
				if s.isReq() != tc.req || s.notReq() != tc.not || string(s.idJSON()) != tc.id {
					t.Fatalf("pieces of %d: isReq %v notReq %v id %s; want %v %v %s", step, s.isReq(), s.notReq(), s.idJSON(), tc.req, tc.not, tc.id)
				}
			}
		})
	}
}
