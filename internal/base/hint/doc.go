// Package hint attaches advice for a person at the command line to an
// error without putting it in the error's text. Library errors say what
// is wrong, and so do the daemon's API answers built from them; the CLI,
// which knows its own flags, prints the advice under the error.
package hint
