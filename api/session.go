package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/clawd-dev/clawd/problem"
)

// The operator console signs in once with the admin token and then holds a
// session cookie instead of the token. The cookie is an HMAC of the token,
// not the token: it dies when the token changes, and reading it (it is
// HttpOnly, so only a local copy of the browser profile could) does not
// reveal the token the CLI uses.
//
// CSRF: the cookie is SameSite=Strict, and a request authenticated by it
// that is not GET/HEAD must carry ConsoleHeader (a custom header, which a
// cross-origin page cannot send without a CORS preflight this API never
// grants) and, when the browser sends Origin, an Origin whose host is the
// request's Host. Bearer-token callers (the CLI) are unaffected.
const (
	// SessionCookie is the name of the console's session cookie.
	SessionCookie = "clawd_console"
	// ConsoleHeader must be "1" on mutating requests signed in by cookie.
	ConsoleHeader = "X-Clawd-Console"
)

// session is the cookie value for the admin token.
func (s *Server) session() string {
	m := hmac.New(sha256.New, []byte(s.cfg.Token))
	m.Write([]byte("clawd console session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// cookieAuthorized reports whether r is signed in by the console cookie and
// passes the same-origin checks for its method.
func (s *Server) cookieAuthorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session())) != 1 {
		return false
	}
	return sameOrigin(r)
}

// sameOrigin is the CSRF check for requests a cookie authenticates: reads
// pass, writes need ConsoleHeader and a matching Origin when one is sent.
func sameOrigin(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	if r.Header.Get(ConsoleHeader) != "1" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return false
		}
	}
	return true
}

// SignInRequest is the body of POST /api/v1/console/session.
type SignInRequest struct {
	Token string `json:"token"`
}

// signIn checks the admin token once and answers with the session cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		problem.Error(w, http.StatusForbidden, "sign-in must come from the console page (send "+ConsoleHeader+": 1 from the same origin)")
		return
	}
	var req SignInRequest
	if err := decode(r, &req); err != nil {
		problem.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(req.Token)), []byte(s.cfg.Token)) != 1 {
		s.log.Warn("console sign-in refused", "remote", r.RemoteAddr)
		problem.Error(w, http.StatusUnauthorized, "wrong admin token: paste the content of admin.token in the data dir")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: s.session(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

// signOut clears the session cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		problem.Error(w, http.StatusForbidden, "sign-out must come from the console page (send "+ConsoleHeader+": 1 from the same origin)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
