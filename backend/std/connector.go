package std

import (
	"context"
	"net"

	"github.com/gyre-go/gyre"
)

type connectorState uint8

const (
	ccIdle       connectorState = iota
	ccConnecting                // a dialing goroutine is at work
	ccFailing                   // cancelled; ClientConnectionFailed on its way
	ccConnected
)

// connector is an outgoing connection, attempt by attempt.
type connector struct {
	r       *Reactor
	seq     uint64
	network string // "tcp" or "unix"
	addr    string
	cf      gyre.ClientFactory
	cfg     gyre.ConnectConfig
	dest    net.Addr

	state   connectorState
	gen     uint64 // attempt number: results of abandoned attempts are dropped
	cancel  context.CancelFunc
	conn    *conn
	started bool // the factory is started for this connector

	failCancelledFn func()
}

var _ gyre.Connector = (*connector)(nil)

func (r *Reactor) newConnector(network, addr string, dest net.Addr, cf gyre.ClientFactory, opts []gyre.ConnectOption) *connector {
	c := &connector{
		r:       r,
		seq:     r.nextSeq(),
		network: network,
		addr:    addr,
		cf:      cf,
		cfg:     gyre.ApplyConnect(opts...),
		dest:    dest,
	}
	c.failCancelledFn = c.failCancelled
	return c
}

// Connect implements gyre.Connector.
func (c *connector) Connect() error {
	if c.r.down {
		return gyre.ErrStopped
	}
	if c.state != ccIdle {
		return gyre.ErrAlreadyConnecting
	}
	c.begin()
	return nil
}

// begin starts an attempt: StartedConnecting, then the dialing goroutine.
func (c *connector) begin() {
	if !c.started {
		c.started = true
		c.r.startFactory(c.cf)
	}
	c.state = ccConnecting
	c.gen++
	c.r.connectors[c] = struct{}{}
	c.r.safely(func() { c.cf.StartedConnecting(c) })
	if c.state != ccConnecting || c.r.down {
		return // StopConnecting (or shutdown) in StartedConnecting
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	c.cancel = cancel
	gen := c.gen
	c.r.wg.Add(1)
	go c.dial(ctx, gen)
}

// dial is the dialing goroutine of one attempt.
func (c *connector) dial(ctx context.Context, gen uint64) {
	defer c.r.wg.Done()
	var nc net.Conn
	local, err := c.localAddr()
	if err == nil {
		d := net.Dialer{LocalAddr: local}
		nc, err = d.DialContext(ctx, c.network, c.addr)
	} else {
		err = wrap(gyre.ErrBind, err)
	}
	ctxErr := ctx.Err()
	if nc != nil {
		c.r.track(nc)
	}
	res := func() { c.dialed(gen, nc, err, ctxErr) }
	if c.r.CallFromThread(res) != nil && nc != nil {
		c.r.untrack(nc)
		_ = nc.Close()
	}
}

// localAddr resolves BindAddr, off the loop.
func (c *connector) localAddr() (net.Addr, error) {
	if c.cfg.BindAddr == "" {
		return nil, nil
	}
	if c.network == "unix" {
		return &net.UnixAddr{Name: c.cfg.BindAddr, Net: "unix"}, nil
	}
	return net.ResolveTCPAddr("tcp", c.cfg.BindAddr)
}

// dialed runs on the loop with the outcome of an attempt.
func (c *connector) dialed(gen uint64, nc net.Conn, err, ctxErr error) {
	if nc != nil {
		c.r.untrack(nc)
	}
	if gen != c.gen || c.state != ccConnecting {
		if nc != nil {
			_ = nc.Close()
		}
		return
	}
	c.cancel()
	c.cancel = nil
	if err != nil {
		if _, ok := err.(*reasonError); !ok {
			err = dialError(err, ctxErr, c.cfg.BindAddr != "")
		}
		c.fail(err)
		return
	}
	if c.network == "tcp" {
		c.dest = nc.RemoteAddr()
	}
	var proto gyre.Protocol
	c.r.safely(func() { proto = c.cf.BuildProtocol(remoteAddr(nc)) })
	if proto == nil || c.r.down {
		_ = nc.Close()
		c.fail(gyre.ErrUserCancelled)
		return
	}
	delete(c.r.connectors, c)
	c.state = ccConnected
	c.conn = c.r.newConn(nc, proto, c)
	c.conn.start()
}

// fail ends an attempt: the factory hears ClientConnectionFailed, and is
// stopped unless it started a new attempt from there.
func (c *connector) fail(reason error) {
	delete(c.r.connectors, c)
	c.state = ccIdle
	c.r.safely(func() { c.cf.ClientConnectionFailed(c, reason) })
	c.idle()
}

// idle stops the factory if the connector has nothing more under way.
func (c *connector) idle() {
	if c.state == ccIdle && c.started {
		c.started = false
		c.r.stopFactory(c.cf)
	}
}

// connectionLost runs after the protocol's ConnectionLost.
func (c *connector) connectionLost(reason error) {
	c.conn = nil
	c.state = ccIdle
	c.r.safely(func() { c.cf.ClientConnectionLost(c, reason) })
	c.idle()
}

// StopConnecting implements gyre.Connector.
func (c *connector) StopConnecting() error {
	if c.state != ccConnecting {
		return gyre.ErrNotConnecting
	}
	c.abandon()
	c.state = ccFailing
	c.r.later(c.failCancelledFn)
	return nil
}

// abandon cancels the attempt under way, if any; its result will be dropped.
func (c *connector) abandon() {
	c.gen++
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

func (c *connector) failCancelled() {
	if c.state == ccFailing {
		c.fail(gyre.ErrUserCancelled)
	}
}

// Disconnect implements gyre.Connector.
func (c *connector) Disconnect() {
	switch c.state {
	case ccConnecting:
		_ = c.StopConnecting()
	case ccConnected:
		c.conn.LoseConnection()
	}
}

// Destination implements gyre.Connector.
func (c *connector) Destination() net.Addr { return c.dest }

// shutdown cancels the attempt under way for the reactor's shutdown.
func (c *connector) shutdown() {
	switch c.state {
	case ccConnecting:
		c.abandon()
		c.fail(gyre.ErrUserCancelled)
	case ccFailing:
		c.fail(gyre.ErrUserCancelled)
	}
}
