// Package safetensors reads and writes float32 tensors in the safetensors
// format (an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data),
// so that graft's head weights open in any safetensors reader.
//
// Reading validates everything a damaged or foreign file could get wrong
// and returns ErrFormat instead of trusting it.
package safetensors
