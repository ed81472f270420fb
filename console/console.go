// Package console is the operator console: a single-page web app, built
// from web/ by esbuild into dist/ and embedded in the binary, that the admin
// listener serves at /console/. It holds no logic of its own on the server:
// every read and action is a call to the admin API (/api/v1), signed in by
// the session cookie of api/session.go.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed dist
var dist embed.FS

// Files are the built console, rooted at dist/.
func Files() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded at build time; Sub cannot fail on it
	}
	return sub
}

// Handler serves the console under /console/. Paths without a file (the
// app's own routes, e.g. /console/namespaces/acme) get index.html, so a
// reload or a shared link lands on the right page.
func Handler() http.Handler {
	files := Files()
	static := http.StripPrefix("/console/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Everything the page needs comes from this origin; no frame may
		// hold it (clickjacking of the delete buttons).
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		name := strings.TrimPrefix(r.URL.Path, "/console/")
		if name == "" || !isFile(files, name) {
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, "index.html")
			return
		}
		static.ServeHTTP(w, r)
	})
}

func isFile(fsys fs.FS, name string) bool {
	if !fs.ValidPath(name) {
		return false
	}
	st, err := fs.Stat(fsys, name)
	return err == nil && !st.IsDir()
}
