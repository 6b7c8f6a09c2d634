package fdio

// WithoutPidfds makes the children spawned until restore is called reaped
// through SIGCHLD, as on systems without pidfds.
func WithoutPidfds() (restore func()) {
	old := pidfdWorks
	pidfdWorks = func() bool { return false }
	return func() { pidfdWorks = old }
}
