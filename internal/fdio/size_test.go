//go:build unix

package fdio

import (
	"testing"
	"unsafe"
)

// TestConnSize keeps an idle connection small: the conn struct is most of
// what an idle connection costs (no buffers are held while idle).
func TestConnSize(t *testing.T) {
	size := unsafe.Sizeof(tcpConn{})
	t.Logf("tcpConn is %d bytes", size)
	if size > 80 {
		t.Errorf("tcpConn grew to %d bytes; an idle connection should stay near 300 bytes in all", size)
	}
}
