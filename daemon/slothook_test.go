package daemon

// SetSlotHook makes every export build and evaluation call hook(kind)
// while it holds its slot, until the returned restore is called.
func SetSlotHook(hook func(kind string)) (restore func()) {
	slotHook.Store(&hook)
	return func() { slotHook.Store(nil) }
}
