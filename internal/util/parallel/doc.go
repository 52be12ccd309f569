// Package parallel splits loops across cores: the one helper the native
// engine and the CPU head use for their data-parallel loops.
package parallel
