//go:build !linux

package std

import "os"

// openPipe makes a pipe for a child with os.Pipe: os.StartProcess makes the
// child's end blocking again when it hands it over. out tells whether the
// child writes.
func openPipe(out bool) (parent, child *os.File, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	if out {
		return r, w, nil
	}
	return w, r, nil
}
