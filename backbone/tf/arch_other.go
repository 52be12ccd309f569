//go:build tensorflow && !amd64

package tf

// The function table the engine calls libtensorflow through
// (trampolines_amd64.S) exists for amd64 only: stop the build here with a
// name that says so, not at the link with a hundred undefined symbols.
var _ = theTensorFlowEngineIsBuiltForAmd64Only
