// Package bomb makes image files whose headers lie about their size, for
// tests: a few hundred bytes that declare billions of pixels, as a
// hostile user would hand them to graft. A decoder that trusts the
// header allocates the declared image before it finds the data short.
package bomb
