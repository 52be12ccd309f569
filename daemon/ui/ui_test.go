package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// Every embedded file is served with its type and the CSP; what the page
// links to exists; nothing else under /ui is served.
func TestHandlerServesTheFiles(t *testing.T) {
	h := Handler()
	names, err := fs.Glob(files, "static/*")
	if err != nil || len(names) < 3 {
		t.Fatalf("embedded files %v, %v", names, err)
	}
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/ui", 200}, {"GET", "/ui/", 200}, {"HEAD", "/ui/app.js", 200},
		{"GET", "/ui/index.html", 200}, {"GET", "/ui/app.css", 200},
		{"GET", "/ui/nope.js", 404}, {"GET", "/ui/static/app.js", 404}, {"GET", "/ui/../http.go", 404},
		{"GET", "/ui/app", 404}, {"DELETE", "/ui/app.js", 405},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, rec.Code, c.code)
			continue
		}
		if c.code == 200 && (rec.Header().Get("Content-Security-Policy") != CSP || rec.Header().Get("Content-Type") == "") {
			t.Errorf("%s %s: headers %v", c.method, c.path, rec.Header())
		}
		if c.method == "HEAD" && rec.Body.Len() != 0 {
			t.Errorf("HEAD %s: a body", c.path)
		}
	}
	page, _ := files.ReadFile("static/index.html")
	for _, m := range regexp.MustCompile(`(?:src|href)="(/ui/[^"]+)"`).FindAllStringSubmatch(string(page), -1) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", m[1], nil))
		if rec.Code != http.StatusOK {
			t.Errorf("index.html links %s: %d", m[1], rec.Code)
		}
	}
}

// The CSP forbids inline code, so the page has none (it would silently
// not run), and the script never turns API text into HTML or code.
func TestNoInlineCodeNorHTMLFromData(t *testing.T) {
	for _, b := range []struct{ file, re, why string }{
		{"static/index.html", `<script(?:\s[^>]*)?>\s*[^<\s]`, "an inline script"},
		{"static/index.html", `\son[a-z]+\s*=`, "an inline event handler"},
		{"static/index.html", `\sstyle\s*=|<style`, "inline styles"},
		{"static/index.html", `https?://`, "a link off this origin"},
		{"static/app.js", `innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`, "HTML or code from strings"},
		{"static/app.js", `new EventSource|[?&](token|access_token)=`, "a token in a URL"},
	} {
		src, err := files.ReadFile(b.file)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(b.re).Find(src); m != nil {
			t.Errorf("%s: %s (%q)", b.file, b.why, m)
		}
	}
	page, _ := files.ReadFile("static/index.html")
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(string(page), -1) {
		if !strings.Contains(tag, ` src="/ui/`) {
			t.Errorf("index.html: %s: scripts come from /ui/ files only", tag)
		}
	}
}
