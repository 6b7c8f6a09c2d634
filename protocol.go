package gyre

import "net"

// Protocol handles the events of one stream connection. Every method is
// called on the loop goroutine.
type Protocol interface {
	// ConnectionMade is called once, when the connection is established,
	// with the transport to write to.
	ConnectionMade(t Transport)
	// DataReceived is called with bytes read from the connection. data is
	// valid only until DataReceived returns (the reactor reuses the
	// memory): copy what must be kept.
	DataReceived(data []byte)
	// ConnectionLost is called once, when the connection has closed. The
	// reason is never nil: errors.Is(reason, ErrConnectionDone) for a clean
	// close, or one of the other connection errors.
	ConnectionLost(reason error)
}

// HalfCloseableProtocol is implemented by a Protocol that wants to keep
// writing after the peer has shut down its sending side. Without it, the
// peer's end of file closes the connection.
type HalfCloseableProtocol interface {
	Protocol
	// ReadConnectionLost is called when the peer has finished sending. The
	// connection stays open for writing until LoseConnection.
	ReadConnectionLost()
}

// WriteCloseNotifier is implemented by a Protocol that wants to know when its
// own sending side has been shut down after LoseWriteConnection.
type WriteCloseNotifier interface {
	// WriteConnectionLost is called once the buffered data has been sent
	// and the sending side shut down.
	WriteConnectionLost()
}

// Transport is the protocol's side of a stream connection: writing to it,
// closing it, and flow control in both directions. Methods are called on
// the loop goroutine.
type Transport interface {
	// Write sends data, buffering what the connection cannot take at once.
	// The caller may reuse data as soon as Write returns. After the
	// connection has started closing it returns ErrNotConnected and sends
	// nothing.
	Write(data []byte) error
	// WriteSequence writes the slices in order, as one gathered write where
	// the platform allows.
	WriteSequence(data [][]byte) error
	// LoseConnection closes the connection once everything buffered has
	// been sent. ConnectionLost follows with ErrConnectionDone.
	LoseConnection()
	// AbortConnection closes the connection at once, discarding what is
	// buffered. ConnectionLost follows with ErrConnectionAborted.
	AbortConnection()
	// LoseWriteConnection shuts down the sending side once everything
	// buffered has been sent; reading goes on.
	LoseWriteConnection()
	// LocalAddr returns the local address.
	LocalAddr() net.Addr
	// RemoteAddr returns the peer's address.
	RemoteAddr() net.Addr

	// RegisterProducer attaches a producer that feeds this transport. A
	// streaming producer (a PushProducer) is paused when more than the high
	// water mark is buffered and resumed when the buffer drains below the
	// low water mark; a pull producer has ResumeProducing called each time
	// the buffer is empty. Registering while another producer is
	// registered returns ErrProducerRegistered.
	RegisterProducer(p Producer, streaming bool) error
	// UnregisterProducer detaches the registered producer, if any.
	UnregisterProducer()

	// PauseProducing stops reading from the connection until
	// ResumeProducing: the transport is itself a producer of received data.
	PauseProducing()
	// ResumeProducing starts reading again.
	ResumeProducing()
	// StopProducing closes the connection as LoseConnection does: what is
	// buffered is still sent. A transport registered as another
	// transport's producer gets it when that one is lost.
	StopProducing()
}

// Producer is a source of data written to a Transport.
type Producer interface {
	// StopProducing tells the producer that the consumer has gone: it
	// must not write again.
	StopProducing()
	// ResumeProducing asks for more data (for a pull producer) or undoes
	// PauseProducing (for a streaming one).
	ResumeProducing()
}

// PushProducer is a streaming producer: it writes on its own until paused.
type PushProducer interface {
	Producer
	// PauseProducing asks the producer to stop writing until
	// ResumeProducing.
	PauseProducing()
}

// TCPTransport is the Transport of a TCP connection.
type TCPTransport interface {
	Transport
	// SetNoDelay turns Nagle's algorithm off (true) or on.
	SetNoDelay(on bool) error
	// SetKeepAlive turns TCP keep-alive probes on or off.
	SetKeepAlive(on bool) error
}

// Factory makes a Protocol for each connection a port accepts, or that a
// connector makes.
type Factory interface {
	// BuildProtocol returns the protocol for a new connection with the
	// peer at addr. Returning nil refuses the connection: it is closed.
	BuildProtocol(addr net.Addr) Protocol
}

// FactoryStarter is implemented by a Factory that wants to know when it is
// first put to use and when the last port or connector using it is done.
type FactoryStarter interface {
	// StartFactory is called before the first port or connector that uses
	// the factory starts.
	StartFactory()
	// StopFactory is called after the last one has stopped.
	StopFactory()
}

// ClientFactory is a Factory used to connect out; it hears how each attempt
// of its Connector goes.
type ClientFactory interface {
	Factory
	// StartedConnecting is called when an attempt starts.
	StartedConnecting(c Connector)
	// ClientConnectionFailed is called when an attempt fails before the
	// connection is made. c.Connect may be called from here to retry.
	ClientConnectionFailed(c Connector, reason error)
	// ClientConnectionLost is called after a made connection is lost,
	// after the protocol's ConnectionLost. c.Connect reconnects.
	ClientConnectionLost(c Connector, reason error)
}

// FactoryFunc is a Factory made of a function.
type FactoryFunc func(addr net.Addr) Protocol

// BuildProtocol calls f(addr).
func (f FactoryFunc) BuildProtocol(addr net.Addr) Protocol { return f(addr) }

// ClientCallbacks is a ClientFactory made of functions; nil ones do nothing
// (a nil Build refuses every connection).
type ClientCallbacks struct {
	Build   func(addr net.Addr) Protocol
	Started func(c Connector)
	Failed  func(c Connector, reason error)
	Lost    func(c Connector, reason error)
}

// BuildProtocol calls Build.
func (f *ClientCallbacks) BuildProtocol(addr net.Addr) Protocol {
	if f.Build == nil {
		return nil
	}
	return f.Build(addr)
}

// StartedConnecting calls Started.
func (f *ClientCallbacks) StartedConnecting(c Connector) {
	if f.Started != nil {
		f.Started(c)
	}
}

// ClientConnectionFailed calls Failed.
func (f *ClientCallbacks) ClientConnectionFailed(c Connector, reason error) {
	if f.Failed != nil {
		f.Failed(c, reason)
	}
}

// ClientConnectionLost calls Lost.
func (f *ClientCallbacks) ClientConnectionLost(c Connector, reason error) {
	if f.Lost != nil {
		f.Lost(c, reason)
	}
}
