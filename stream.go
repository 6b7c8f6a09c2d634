package gyre

import (
	"net"
	"os"
	"time"

	"github.com/gyre-go/gyre/deferred"
)

// TCP is the facet for TCP ports and outgoing TCP connections.
type TCP interface {
	// ListenTCP listens on addr ("127.0.0.1:8080", "[::1]:0", ":0"; the
	// host, if any, must be a literal IP address) and builds a protocol
	// with f for every connection accepted. Port 0 picks a free port,
	// which the returned Port's Addr reports.
	ListenTCP(addr string, f Factory, opts ...ListenOption) (Port, error)
	// ConnectTCP starts connecting to addr ("host:port"; a host name is
	// resolved off the loop) and returns at once. f hears how it goes.
	ConnectTCP(addr string, f ClientFactory, opts ...ConnectOption) (Connector, error)
}

// Unix is the facet for Unix domain stream sockets.
type Unix interface {
	// ListenUnix listens on the socket file at path, or, on Linux, in the
	// abstract namespace when path starts with "@". A stale socket file
	// (one nothing listens on) is replaced; a live one is an error.
	ListenUnix(path string, f Factory, opts ...ListenOption) (Port, error)
	// ConnectUnix starts connecting to the socket at path.
	ConnectUnix(path string, f ClientFactory, opts ...ConnectOption) (Connector, error)
}

// Port is a listening socket.
type Port interface {
	// Addr returns the address the port listens on.
	Addr() net.Addr
	// StopListening closes the port. The Deferred fires once the socket is
	// closed and its address can be bound again; connections already
	// accepted are not affected. A second call returns a Deferred that
	// fires with the first one.
	StopListening() *deferred.Deferred
}

// Connector is an outgoing connection, attempt by attempt.
type Connector interface {
	// Connect starts a new attempt; it is meant for reconnecting from
	// ClientConnectionFailed or ClientConnectionLost. It returns
	// ErrAlreadyConnecting while an attempt is under way or the connection
	// is up.
	Connect() error
	// StopConnecting abandons the attempt under way: the factory hears
	// ClientConnectionFailed with ErrUserCancelled. It returns
	// ErrNotConnecting when no attempt is under way.
	StopConnecting() error
	// Disconnect abandons the attempt under way, or closes the connection
	// if it is up (as LoseConnection does).
	Disconnect()
	// Destination returns the address being connected to, once known.
	Destination() net.Addr
}

// ListenOption adjusts a listening socket.
type ListenOption func(*ListenConfig)

// ListenConfig holds the settings ListenOptions set.
type ListenConfig struct {
	Backlog   int         // queue of pending connections; 0 means the system's maximum
	ReusePort bool        // SO_REUSEPORT: several ports may share the address
	Mode      os.FileMode // for Unix socket files; 0 leaves the umask's mode
}

// Backlog sets the length of the queue of connections not yet accepted.
func Backlog(n int) ListenOption { return func(c *ListenConfig) { c.Backlog = n } }

// ReusePort sets SO_REUSEPORT, so that several sockets may listen on the
// same address (the kernel spreads connections among them).
func ReusePort() ListenOption { return func(c *ListenConfig) { c.ReusePort = true } }

// Mode sets the file mode of a Unix socket file.
func Mode(m os.FileMode) ListenOption { return func(c *ListenConfig) { c.Mode = m } }

// ConnectOption adjusts an outgoing connection.
type ConnectOption func(*ConnectConfig)

// ConnectConfig holds the settings ConnectOptions set.
type ConnectConfig struct {
	Timeout  time.Duration // 0 means 30 s
	BindAddr string        // local address to bind before connecting ("ip:port")
}

// Timeout bounds each attempt, name resolution included; past it the
// factory hears ClientConnectionFailed with ErrTimeout.
func Timeout(d time.Duration) ConnectOption { return func(c *ConnectConfig) { c.Timeout = d } }

// BindAddr binds the local end of the connection to addr before connecting.
func BindAddr(addr string) ConnectOption { return func(c *ConnectConfig) { c.BindAddr = addr } }

// ApplyListen returns the ListenConfig that opts set.
func ApplyListen(opts ...ListenOption) ListenConfig {
	var c ListenConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// ApplyConnect returns the ConnectConfig that opts set, with defaults filled.
func ApplyConnect(opts ...ConnectOption) ConnectConfig {
	var c ConnectConfig
	for _, o := range opts {
		o(&c)
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// UnixTransport is the Transport of a Unix domain stream connection.
type UnixTransport interface {
	Transport
	// PeerCredentials returns the process, user and group ids of the peer
	// as the kernel recorded them when the connection was made.
	PeerCredentials() (Credentials, error)
	// SendFDs writes data (at least one byte) with copies of the
	// descriptors fds attached, in order with the other writes. The caller
	// keeps its own descriptors.
	SendFDs(fds []int, data []byte) error
}

// Credentials identify the process at the other end of a Unix socket.
type Credentials struct {
	PID, UID, GID int
}

// FDReceiver is implemented by a Protocol that accepts descriptors passed
// over a Unix socket. FileDescriptorsReceived is called with them just before
// DataReceived delivers the bytes they came with; the protocol owns them and
// must close them. A protocol that does not implement it never sees them:
// the transport closes them.
type FDReceiver interface {
	FileDescriptorsReceived(fds []int)
}
