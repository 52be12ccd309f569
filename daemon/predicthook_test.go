package daemon

// SetPredictHook makes every prediction call hook while it holds its
// loaded model, until the returned restore is called.
func SetPredictHook(hook func()) (restore func()) {
	predictHook.Store(&hook)
	return func() { predictHook.Store(nil) }
}
