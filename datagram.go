package gyre

import (
	"net"

	"github.com/gyre-go/gyre/deferred"
)

// DatagramProtocol handles the events of one datagram port. Every method is
// called on the loop goroutine.
type DatagramProtocol interface {
	// StartProtocol is called once the port is listening, with the port
	// to write to.
	StartProtocol(p DatagramPort)
	// DatagramReceived is called with each datagram and its sender's
	// address. data is valid only until DatagramReceived returns.
	DatagramReceived(data []byte, addr net.Addr)
	// StopProtocol is called once, on a later callback after the port has
	// stopped listening (StopListening, or the reactor's shutdown).
	StopProtocol()
}

// ConnectionRefusedProtocol is implemented by a DatagramProtocol that wants
// to hear when a datagram sent on a connected port was refused (an ICMP
// port-unreachable reply).
type ConnectionRefusedProtocol interface {
	DatagramProtocol
	ConnectionRefused()
}

// DatagramPort is a bound datagram socket. Methods are called on the loop
// goroutine.
type DatagramPort interface {
	// Write sends data as one datagram to addr, or to the connected peer
	// when addr is nil. A datagram larger than MaxDatagramSize returns
	// ErrDatagramTooLarge; an address of the other family, ErrAddress.
	Write(data []byte, addr net.Addr) error
	// WriteSequence sends the slices, in order, as one datagram.
	WriteSequence(data [][]byte, addr net.Addr) error
	// Connect fixes the peer: only its datagrams are received, and Write
	// takes a nil address. addr must be a literal address; a host name
	// returns ErrAddress, and a second Connect ErrAlreadyConnected.
	Connect(addr string) error
	// LocalAddr returns the address the port is bound to.
	LocalAddr() net.Addr
	// RemoteAddr returns the connected peer, or nil.
	RemoteAddr() net.Addr
	// SetBroadcastAllowed allows or forbids sending to broadcast addresses.
	SetBroadcastAllowed(on bool) error
	// MaxDatagramSize returns the largest datagram Write accepts.
	MaxDatagramSize() int
	// StopListening closes the port. The Deferred fires once the socket
	// is closed and its address can be bound again; StopProtocol follows on
	// a later callback.
	StopListening() *deferred.Deferred
}

// MulticastPort is a UDP port that can join multicast groups.
type MulticastPort interface {
	DatagramPort
	// JoinGroup joins group (a literal multicast address) on the
	// interface with address iface, or the default interface if iface is
	// empty. A group that is not a multicast address returns ErrAddress.
	JoinGroup(group, iface string) error
	// LeaveGroup leaves a group joined with JoinGroup.
	LeaveGroup(group, iface string) error
	// SetLoopbackMode sets whether datagrams this host sends to a group
	// are delivered to its own members.
	SetLoopbackMode(on bool) error
	// SetTTL sets the time to live of outgoing multicast datagrams.
	SetTTL(ttl int) error
	// SetOutgoingInterface sends multicast datagrams through the interface
	// with address iface.
	SetOutgoingInterface(iface string) error
}

// UDP is the facet for UDP ports.
type UDP interface {
	// ListenUDP binds addr ("127.0.0.1:0", "[::1]:9999", ":0"; the host
	// must be a literal IP or empty) and starts p on it.
	ListenUDP(addr string, p DatagramProtocol, opts ...ListenOption) (DatagramPort, error)
}

// Multicast is the facet for multicast UDP ports.
type Multicast interface {
	// ListenMulticast binds addr with address reuse, so that several
	// ports may listen on the same port number, and starts p on it.
	ListenMulticast(addr string, p DatagramProtocol, opts ...ListenOption) (MulticastPort, error)
}

// UnixDatagram is the facet for Unix domain datagram sockets.
type UnixDatagram interface {
	// ListenUnixDatagram binds the socket file at path ("@name" is the
	// Linux abstract namespace) and starts p on it.
	ListenUnixDatagram(path string, p DatagramProtocol, opts ...ListenOption) (DatagramPort, error)
	// ConnectUnixDatagram makes a socket connected to the one at path.
	ConnectUnixDatagram(path string, p DatagramProtocol, opts ...ListenOption) (DatagramPort, error)
}
