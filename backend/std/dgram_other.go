//go:build !unix

package std

import (
	"net"

	"github.com/gyre-go/gyre"
)

// dgramSys is empty here: writes go through the net package.
type dgramSys struct{}

func (p *dgramPort) initSys() {}

// dgramRbufSize is the size of a port's read buffer: one datagram here.
const dgramRbufSize = dgramBufSize

// readMore does nothing: the reader hands over one datagram at a time.
func (p *dgramPort) readMore() {}

// filterPeer tells whether deliver must drop datagrams from others than the
// connected peer: yes, Connect only records the peer here.
func (p *dgramPort) filterPeer() bool { return true }

// dgramRefused tells whether a read error reports a datagram refused by the
// peer (Windows reports the ICMP reply as a reset).
func dgramRefused(err error) bool { return isRefused(err) || isResetOS(err) }

// sendOut sends one datagram through the net package.
func (p *dgramPort) sendOut(b []byte, bufs [][]byte, to net.Addr) error {
	if bufs != nil {
		n := 0
		for _, x := range bufs {
			n += len(x)
		}
		b = make([]byte, 0, n)
		for _, x := range bufs {
			b = append(b, x...)
		}
	}
	if to == nil {
		to = p.raddr
	}
	_, err := p.pc.WriteTo(b, to)
	if err != nil && p.rap.IsValid() && dgramRefused(err) {
		p.r.later(p.refusedFn)
		return nil
	}
	return err
}

// connectSys records the peer: the port filters what it receives.
func (p *dgramPort) connectSys(net.Addr) error {
	if p.xc != nil {
		return gyre.ErrNotSupported
	}
	return nil
}

func (p *dgramPort) setBroadcast(on bool) error { return setBroadcastOS(p, on) }
