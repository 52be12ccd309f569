// Package ui is graft serve's dashboard at /ui: one static page (HTML, a
// script and a style sheet, embedded in the binary; no build step, no
// CDN) that reads the daemon's own API from the browser: the job list,
// a job's curves from its event stream, its evaluation and log, and a
// model's predictions for a dropped image.
//
// The files hold no data, so they are served without the API token; the
// page asks for the token once, keeps it in sessionStorage and sends it
// as an Authorization header on every call (the event stream is read
// with fetch, as EventSource cannot send headers). A strict
// Content-Security-Policy allows scripts, styles and connections to this
// origin only and no inline code. clients/ui-tests drives the page in a
// real Chromium.
package ui
