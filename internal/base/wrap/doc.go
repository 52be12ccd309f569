// Package wrap adds context to an error without repeating the package
// prefix the error already starts with: "savedmodel: /m: invalid graph",
// not "savedmodel: /m: savedmodel: invalid graph".
package wrap
