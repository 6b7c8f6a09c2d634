// Package loadgen drives a TCP echo server and measures it: echo round trips
// per second and their latency, checking every echoed byte.
//
// Each connection is served by one goroutine of package net that keeps
// Depth messages in flight: Depth 1 is ping-pong (send one message, wait for
// its whole echo, send the next); Depth 16 is pipelined (whenever echoes
// complete, as many new messages go out in one write). A message carries its
// sequence number in its first 8 bytes and a pattern particular to its
// connection in the rest, and the echo must match it byte for byte.
package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes one load.
type Config struct {
	Addr     string        // server address, "127.0.0.1:port"
	Conns    int           // connections, all open before the warm-up
	Size     int           // message size in bytes, at least 8
	Depth    int           // messages in flight per connection; 1 is ping-pong
	Warmup   time.Duration // load applied but not measured
	Duration time.Duration // the measured window
}

// Result is what one load measured. Msgs counts echoes completed within the
// measured window; latencies run from the write that sent a message to the
// read that completed its echo.
type Result struct {
	Conns     int           `json:"conns"`
	Size      int           `json:"size"`
	Depth     int           `json:"depth"`
	Msgs      uint64        `json:"msgs"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	P999      time.Duration `json:"p999_ns"`
	Max       time.Duration `json:"max_ns"`
	Starved   int           `json:"starved"`      // connections that completed no echo in the window
	DialTime  time.Duration `json:"dial_ns"`      // time to open all connections
	MinPerCon uint64        `json:"min_per_conn"` // fewest echoes one connection completed
	MaxPerCon uint64        `json:"max_per_conn"` // most echoes one connection completed
}

// MsgsPerSec returns echoes per second over the measured window.
func (r *Result) MsgsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Msgs) / r.Elapsed.Seconds()
}

// MBPerSec returns echoed payload in MB (10^6 bytes) per second, counted in
// one direction.
func (r *Result) MBPerSec() float64 { return r.MsgsPerSec() * float64(r.Size) / 1e6 }

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// client is one connection's state, owned by its goroutine.
type client struct {
	c       *net.TCPConn
	size    int
	depth   int
	tmpl    []byte  // a message, before its sequence number is set
	expect  []byte  // the message being received
	wbuf    []byte  // room for depth messages
	rbuf    []byte  // read buffer
	sentAt  []int64 // send time of message seq, at seq%depth
	nextOut uint64  // sequence number of the next message to send
	nextIn  uint64  // sequence number of the message being received
	off     int     // bytes of message nextIn received so far
	msgs    uint64  // echoes completed in the measured window
	hist    Histogram
}

func newClient(c *net.TCPConn, id, size, depth int) *client {
	cl := &client{c: c, size: size, depth: depth}
	cl.tmpl = make([]byte, size)
	for i := 8; i < size; i++ {
		cl.tmpl[i] = byte(id*131 + i*7 + 3)
	}
	cl.expect = bytes.Clone(cl.tmpl)
	// A read takes what is there, up to 16 KiB (or one window); a write
	// sends at most a read's worth of new messages, in chunks of wbuf.
	cl.rbuf = make([]byte, min(depth*size, max(16<<10, size)))
	cl.wbuf = make([]byte, min(depth, len(cl.rbuf)/size+1)*size)
	cl.sentAt = make([]int64, depth)
	return cl
}

// send writes k new messages, as many in one write as wbuf holds.
func (cl *client) send(k int, now int64) error {
	for k > 0 {
		n := min(k, len(cl.wbuf)/cl.size)
		b := cl.wbuf[:n*cl.size]
		for j := range n {
			m := b[j*cl.size : (j+1)*cl.size]
			copy(m, cl.tmpl)
			seq := cl.nextOut + uint64(j)
			binary.LittleEndian.PutUint64(m, seq)
			cl.sentAt[seq%uint64(cl.depth)] = now
		}
		cl.nextOut += uint64(n)
		k -= n
		if _, err := cl.c.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func (cl *client) run(phase *atomic.Int32, epoch time.Time) error {
	if err := cl.send(cl.depth, int64(time.Since(epoch))); err != nil {
		return err
	}
	for {
		n, err := cl.c.Read(cl.rbuf)
		now := int64(time.Since(epoch))
		measuring := phase.Load() == phaseMeasure
		p := cl.rbuf[:n]
		done := 0
		for len(p) > 0 {
			if cl.off == 0 {
				binary.LittleEndian.PutUint64(cl.expect, cl.nextIn)
			}
			m := min(len(p), cl.size-cl.off)
			if !bytes.Equal(p[:m], cl.expect[cl.off:cl.off+m]) {
				return fmt.Errorf("echo mismatch in message %d at bytes %d-%d", cl.nextIn, cl.off, cl.off+m)
			}
			cl.off += m
			p = p[m:]
			if cl.off == cl.size {
				cl.off = 0
				if measuring {
					cl.hist.Record(now - cl.sentAt[cl.nextIn%uint64(cl.depth)])
					cl.msgs++
				}
				cl.nextIn++
				done++
			}
		}
		if err != nil {
			return err
		}
		if done > 0 {
			if err := cl.send(done, int64(time.Since(epoch))); err != nil {
				return err
			}
		}
	}
}

// Run opens cfg.Conns connections, loads them for cfg.Warmup and then for
// cfg.Duration, which it measures, and closes them. Any error before the end
// of the window (a refused connection, an early close, a wrong byte) fails
// the run.
func Run(cfg Config) (*Result, error) {
	if cfg.Size < 8 || cfg.Depth < 1 || cfg.Conns < 1 || cfg.Duration <= 0 {
		return nil, errors.New("loadgen: need Size >= 8, Depth >= 1, Conns >= 1, Duration > 0")
	}
	t0 := time.Now()
	conns, err := Dial(cfg.Addr, cfg.Conns)
	if err != nil {
		return nil, err
	}
	dialTime := time.Since(t0)
	defer closeAll(conns)

	var (
		phase   atomic.Int32
		epoch   = time.Now()
		clients = make([]*client, len(conns))
		errs    = make(chan error, len(conns))
		wg      sync.WaitGroup
	)
	for i, c := range conns {
		clients[i] = newClient(c, i, cfg.Size, cfg.Depth)
	}
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// run returns only on an error: the one that ends the
			// run, or the deadline that stops it.
			if err := cl.run(&phase, epoch); phase.Load() != phaseStop {
				errs <- err
			}
		}()
	}
	abort := func(err error) (*Result, error) {
		phase.Store(phaseStop)
		unblock(conns)
		wg.Wait()
		return nil, err
	}
	select {
	case err := <-errs:
		return abort(fmt.Errorf("during warm-up: %w", err))
	case <-time.After(cfg.Warmup):
	}
	start := time.Now()
	phase.Store(phaseMeasure)
	select {
	case err := <-errs:
		return abort(fmt.Errorf("while measuring: %w", err))
	case <-time.After(cfg.Duration):
	}
	phase.Store(phaseStop)
	elapsed := time.Since(start)
	unblock(conns)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, fmt.Errorf("while measuring: %w", err)
	default:
	}

	res := &Result{Conns: cfg.Conns, Size: cfg.Size, Depth: cfg.Depth, Elapsed: elapsed, DialTime: dialTime}
	var h Histogram
	res.MinPerCon = ^uint64(0)
	for _, cl := range clients {
		h.Merge(&cl.hist)
		res.Msgs += cl.msgs
		if cl.msgs == 0 {
			res.Starved++
		}
		res.MinPerCon = min(res.MinPerCon, cl.msgs)
		res.MaxPerCon = max(res.MaxPerCon, cl.msgs)
	}
	res.P50, res.P99, res.P999, res.Max = h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999), h.Max()
	return res, nil
}

// unblock makes every blocked Read or Write on conns return at once.
func unblock(conns []*net.TCPConn) {
	past := time.Unix(1, 0)
	for _, c := range conns {
		_ = c.SetDeadline(past)
	}
}

// closeAll closes conns with a reset (SO_LINGER 0), so that repeated runs
// do not pile up sockets in TIME_WAIT.
func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		_ = c.SetLinger(0)
		_ = c.Close()
	}
}

// Close closes connections opened by Dial or OpenIdle with a reset.
func Close(conns []*net.TCPConn) { closeAll(conns) }

// Dial opens n connections to addr, a few at a time.
func Dial(addr string, n int) ([]*net.TCPConn, error) {
	conns := make([]*net.TCPConn, n)
	const workers = 16
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
	)
	d := net.Dialer{Timeout: 10 * time.Second}
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := d.Dial("tcp", addr)
				if err == nil {
					conns[i] = c.(*net.TCPConn)
					err = conns[i].SetNoDelay(true)
				}
				if err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = fmt.Errorf("dial %s (connection %d of %d): %w", addr, i+1, n, err)
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		var opened []*net.TCPConn
		for _, c := range conns {
			if c != nil {
				opened = append(opened, c)
			}
		}
		closeAll(opened)
		if errors.Is(ferr, syscall.EMFILE) {
			ferr = fmt.Errorf("%w (raise RLIMIT_NOFILE)", ferr)
		}
		return nil, ferr
	}
	return conns, nil
}

// OpenIdle opens n connections to addr and sends one byte on each, waiting
// for its echo, so that every connection is known to be accepted and served
// before it goes quiet.
func OpenIdle(addr string, n int) ([]*net.TCPConn, error) {
	conns, err := Dial(addr, n)
	if err != nil {
		return nil, err
	}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		ferr error
	)
	deadline := time.Now().Add(30 * time.Second)
	for range min(64, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := []byte{0}
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c := conns[i]
				_ = c.SetDeadline(deadline)
				b[0] = byte(i)
				_, err := c.Write(b)
				if err == nil {
					_, err = c.Read(b)
				}
				if err == nil && b[0] != byte(i) {
					err = fmt.Errorf("echoed byte %d, sent %d", b[0], byte(i))
				}
				if err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = fmt.Errorf("idle connection %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				_ = c.SetDeadline(time.Time{})
			}
		}()
	}
	wg.Wait()
	if ferr != nil {
		closeAll(conns)
		return nil, ferr
	}
	return conns, nil
}
