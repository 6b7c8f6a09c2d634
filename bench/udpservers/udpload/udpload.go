// Package udpload drives a UDP echo server and measures it: datagrams
// echoed per second, and datagrams lost.
//
// Each sender has a socket of its own, connected to the server, and a
// goroutine of package net that keeps Window datagrams in flight: whenever
// an echo comes back, a new datagram goes out. A datagram carries its
// sender's sequence number in its first 8 bytes and a pattern particular to
// its sender in the rest, and the echo must match it byte for byte; echoes
// are matched to datagrams by sequence number, so reordering is harmless and
// a duplicate is noticed.
//
// A datagram whose echo has not come back after LostAfter is given up: its
// place in the window goes to a new datagram, so that lost datagrams do not
// shrink the window for good. It still counts as echoed if its echo turns
// up later. The figures:
//
//   - Echoed: echoes received within the measured window (after the
//     warm-up), whatever phase their datagram was sent in.
//   - Sent and Lost: the datagrams sent within the measured window, and of
//     those the ones with no echo by the end of the window plus LostAfter.
//     The senders stop sending at the end of the window and only read
//     during that grace period.
package udpload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config describes one load.
type Config struct {
	Addr      string        // server address, "127.0.0.1:port"
	Senders   int           // senders, each with its own socket and goroutine
	Size      int           // datagram size in bytes, at least 16
	Window    int           // datagrams in flight per sender
	Warmup    time.Duration // load applied but not measured
	Duration  time.Duration // the measured window
	LostAfter time.Duration // a datagram with no echo after this is lost; 200 ms if zero
}

// Result is what one load measured.
type Result struct {
	Senders int    `json:"senders"`
	Size    int    `json:"size"`
	Window  int    `json:"window"`
	Echoed  uint64 `json:"echoed"` // echoes received in the measured window
	// Elapsed is the length of the measured window.
	Elapsed time.Duration `json:"elapsed_ns"`
	Sent    uint64        `json:"sent"`     // datagrams sent in the measured window
	Lost    uint64        `json:"lost"`     // of Sent, those with no echo by the window's end + LostAfter
	GivenUp uint64        `json:"given_up"` // datagrams (any phase) whose window place was refilled after LostAfter
	Late    uint64        `json:"late"`     // echoes that came after their datagram was given up
	Dups    uint64        `json:"dups"`     // echoes of a datagram already echoed
	Starved int           `json:"starved"`  // senders that received no echo in the measured window
	// Fewest and most echoes one sender received in the measured window.
	MinPerSender uint64 `json:"min_per_sender"`
	MaxPerSender uint64 `json:"max_per_sender"`
}

// PerSec returns echoes per second over the measured window.
func (r *Result) PerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Echoed) / r.Elapsed.Seconds()
}

// LossPct returns Lost as a percentage of Sent.
func (r *Result) LossPct() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Lost) / float64(r.Sent)
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseDrain // no more sends; echoes of the window's datagrams still count
	phaseStop
)

const (
	deadlineEvery = 10 * time.Millisecond // how often a sender refreshes its read deadline
	deadlineAhead = 30 * time.Millisecond // how far ahead it sets it
)

type inflight struct {
	seq    uint64
	sentAt time.Time
}

// sender is one socket's state, owned by its goroutine.
type sender struct {
	c         *net.UDPConn
	phase     *atomic.Int32
	lostAfter time.Duration
	wbuf      []byte // the datagram: sequence number, then the pattern
	rbuf      []byte
	nextSeq   uint64
	out       []inflight // in flight, at most the window
	echoed    []uint64   // bit set of the sequence numbers echoed

	// The datagrams sent in the measured window are seqs [measFirst, measEnd).
	measStarted        bool
	measFirst, measEnd uint64
	sent, sentEchoed   uint64 // of the window's datagrams: sent, echoed
	echoes             uint64 // echoes received in the window
	givenUp, late      uint64
	dups               uint64
}

func newSender(c *net.UDPConn, id, size, window int, phase *atomic.Int32, lostAfter time.Duration) *sender {
	s := &sender{
		c: c, phase: phase, lostAfter: lostAfter,
		wbuf: make([]byte, size),
		rbuf: make([]byte, size+64<<10), // room to notice an oversized echo
		out:  make([]inflight, 0, window),
	}
	for i := 8; i < size; i++ {
		s.wbuf[i] = byte(id*131 + i*7 + 1)
	}
	return s
}

func (s *sender) isEchoed(seq uint64) bool {
	i := seq >> 6
	return i < uint64(len(s.echoed)) && s.echoed[i]&(1<<(seq&63)) != 0
}

func (s *sender) setEchoed(seq uint64) {
	i := seq >> 6
	for uint64(len(s.echoed)) <= i {
		s.echoed = append(s.echoed, 0)
	}
	s.echoed[i] |= 1 << (seq & 63)
}

func (s *sender) inWindow(seq uint64) bool {
	return s.measStarted && seq >= s.measFirst && seq < s.measEnd
}

func (s *sender) send(ph int32, now time.Time) error {
	seq := s.nextSeq
	s.nextSeq++
	binary.LittleEndian.PutUint64(s.wbuf, seq)
	if ph == phaseMeasure {
		if !s.measStarted {
			s.measStarted, s.measFirst = true, seq
		}
		s.measEnd = seq + 1
		s.sent++
	}
	s.out = append(s.out, inflight{seq, now})
	if _, err := s.c.Write(s.wbuf); err != nil {
		if errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.EAGAIN) {
			return nil // dropped on the way out: it will be given up
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// expire gives up the datagrams in flight for longer than lostAfter and
// sends new ones in their place while the load lasts.
func (s *sender) expire(ph int32, now time.Time) error {
	n := 0
	for i := 0; i < len(s.out); i++ {
		if now.Sub(s.out[i].sentAt) >= s.lostAfter {
			n++
			s.givenUp++
			continue
		}
		s.out[i-n] = s.out[i]
	}
	s.out = s.out[:len(s.out)-n]
	if ph >= phaseDrain {
		return nil
	}
	for range n {
		if err := s.send(ph, now); err != nil {
			return err
		}
	}
	return nil
}

func (s *sender) run(start <-chan struct{}) error {
	<-start
	now := time.Now()
	for range cap(s.out) {
		if err := s.send(s.phase.Load(), now); err != nil {
			return err
		}
	}
	var lastSet time.Time
	for {
		now = time.Now()
		ph := s.phase.Load()
		if ph == phaseStop || (ph == phaseDrain && s.sentEchoed == s.sent) {
			return nil
		}
		if now.Sub(lastSet) >= deadlineEvery {
			if err := s.c.SetReadDeadline(now.Add(deadlineAhead)); err != nil {
				return err
			}
			lastSet = now
			if err := s.expire(ph, now); err != nil {
				return err
			}
		}
		n, err := s.c.Read(s.rbuf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return fmt.Errorf("read: %w", err) // ECONNREFUSED: the server is gone
		}
		ph = s.phase.Load()
		if ph == phaseStop {
			return nil
		}
		if n != len(s.wbuf) {
			return fmt.Errorf("echo of %d bytes, sent %d", n, len(s.wbuf))
		}
		seq := binary.LittleEndian.Uint64(s.rbuf)
		if seq >= s.nextSeq || !bytes.Equal(s.rbuf[8:n], s.wbuf[8:]) {
			return fmt.Errorf("echo does not match any datagram this sender sent (seq %d of %d)", seq, s.nextSeq)
		}
		if s.isEchoed(seq) {
			s.dups++
			continue
		}
		s.setEchoed(seq)
		if ph == phaseMeasure {
			s.echoes++
		}
		if s.inWindow(seq) {
			s.sentEchoed++
		}
		found := false
		for i := range s.out {
			if s.out[i].seq == seq {
				s.out = append(s.out[:i], s.out[i+1:]...)
				found = true
				break
			}
		}
		if !found {
			s.late++
			continue
		}
		if ph < phaseDrain {
			if err := s.send(ph, time.Now()); err != nil {
				return err
			}
		}
	}
}

// Run applies one load and returns what it measured. It fails if a socket
// fails (the server is gone) or an echo does not match what was sent.
func Run(cfg Config) (*Result, error) {
	if cfg.Senders < 1 || cfg.Window < 1 || cfg.Size < 16 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("bad config %+v", cfg)
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = 200 * time.Millisecond
	}
	raddr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	var phase atomic.Int32
	senders := make([]*sender, cfg.Senders)
	for i := range senders {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			for _, s := range senders[:i] {
				_ = s.c.Close()
			}
			return nil, err
		}
		senders[i] = newSender(c, i, cfg.Size, cfg.Window, &phase, cfg.LostAfter)
	}
	defer func() {
		for _, s := range senders {
			_ = s.c.Close()
		}
	}()

	start := make(chan struct{})
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		first error
	)
	for _, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.run(start); err != nil {
				errMu.Lock()
				if first == nil {
					first = err
				}
				errMu.Unlock()
				phase.Store(phaseStop)
			}
		}()
	}
	close(start)
	time.Sleep(cfg.Warmup)
	phase.CompareAndSwap(phaseWarmup, phaseMeasure)
	t0 := time.Now()
	time.Sleep(cfg.Duration)
	phase.CompareAndSwap(phaseMeasure, phaseDrain)
	elapsed := time.Since(t0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.LostAfter):
		phase.Store(phaseStop)
		<-done
	}
	if first != nil {
		return nil, first
	}

	res := &Result{Senders: cfg.Senders, Size: cfg.Size, Window: cfg.Window, Elapsed: elapsed}
	for i, s := range senders {
		res.Echoed += s.echoes
		res.Sent += s.sent
		res.Lost += s.sent - s.sentEchoed
		res.GivenUp += s.givenUp
		res.Late += s.late
		res.Dups += s.dups
		if s.echoes == 0 {
			res.Starved++
		}
		if i == 0 || s.echoes < res.MinPerSender {
			res.MinPerSender = s.echoes
		}
		res.MaxPerSender = max(res.MaxPerSender, s.echoes)
	}
	return res, nil
}
