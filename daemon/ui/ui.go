package ui

import (
	"embed"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP is the page's Content-Security-Policy: its own scripts, styles and
// API only; images also from blob: (the preview of a dropped file).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Handler serves the dashboard: /ui and /ui/ are the page, /ui/NAME its
// files. Anything else under /ui is 404; only GET and HEAD are allowed.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read with GET", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/ui"), "/")
		if name == "" {
			name = "index.html"
		}
		b, err := files.ReadFile("static/" + name)
		ct, known := types[path.Ext(name)]
		if err != nil || !known || strings.Contains(name, "/") {
			http.Error(w, "no such dashboard file: "+r.URL.Path+" (open /ui)", http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	})
}
