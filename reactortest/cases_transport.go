package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "Transport" section of docs/SPEC.md: reading, writing,
// closing and flow control on stream connections. They run over TCP on
// 127.0.0.1, with some over Unix sockets (#unix); the helpers are in
// transportutil.go. Unless a case says otherwise, the protocol under test is
// on the accepting side and its peer is a plain net.Conn driven by a goroutine
// of the case.

func init() {
	tcp := trNeeds(trTCP)
	unix := trNeeds(trUnix)
	register(
		// Reading.
		Case{ID: "transport.read.order", Facet: FacetTransport, Needs: tcp, Test: trReadOrder(trTCP)},
		Case{ID: "transport.read.order#unix", Facet: FacetTransport, Needs: unix, Test: trReadOrder(trUnix)},
		Case{ID: "transport.read.order#client", Facet: FacetTransport, Needs: tcp, Test: trReadOrderClient},
		Case{ID: "transport.read.scratch", Facet: FacetTransport, Needs: tcp, Test: trReadScratch(trTCP)},
		Case{ID: "transport.read.scratch#unix", Facet: FacetTransport, Needs: unix, Test: trReadScratch(trUnix)},
		Case{ID: "transport.read.eof", Facet: FacetTransport, Needs: tcp, Test: trReadEOF(trTCP, false)},
		Case{ID: "transport.read.eof#unix", Facet: FacetTransport, Needs: unix, Test: trReadEOF(trUnix, false)},
		Case{ID: "transport.read.eof#shutdown-write", Facet: FacetTransport, Needs: tcp, Test: trReadEOF(trTCP, true)},
		Case{ID: "transport.read.eof#flushes", Facet: FacetTransport, Needs: tcp, Test: trReadEOFFlushes},
		Case{ID: "transport.read.half-close", Facet: FacetTransport, Needs: tcp, Test: trReadHalfClose(trTCP, 5)},
		Case{ID: "transport.read.half-close#unix", Facet: FacetTransport, Needs: unix, Test: trReadHalfClose(trUnix, 5)},
		Case{ID: "transport.read.half-close#large-reply", Facet: FacetTransport, Needs: tcp, Test: trReadHalfClose(trTCP, 4<<20)},
		Case{ID: "transport.read.reset", Facet: FacetTransport, Needs: tcp, Test: trReadReset(trTCP)},
		Case{ID: "transport.read.reset#unix", Facet: FacetTransport, Needs: unix, Test: trReadReset(trUnix)},
		Case{ID: "transport.read.pause", Facet: FacetTransport, Needs: tcp, Test: trReadPauseCycles(trTCP)},
		Case{ID: "transport.read.pause#unix", Facet: FacetTransport, Needs: unix, Test: trReadPauseCycles(trUnix)},
		Case{ID: "transport.read.pause#connection-made", Facet: FacetTransport, Needs: tcp, Test: trReadPauseMade},
		Case{ID: "transport.read.pause#eof", Facet: FacetTransport, Needs: tcp, Test: trReadPauseEOF},
		Case{ID: "transport.read.stop-producing", Facet: FacetTransport, Needs: tcp, Test: trReadStopProducing},

		// Writing.
		Case{ID: "transport.write.order", Facet: FacetTransport, Needs: tcp, Test: trWriteOrderSmall(trTCP)},
		Case{ID: "transport.write.order#unix", Facet: FacetTransport, Needs: unix, Test: trWriteOrderSmall(trUnix)},
		Case{ID: "transport.write.order#large", Facet: FacetTransport, Needs: tcp, Test: trWriteOrderLarge},
		Case{ID: "transport.write.order#client", Facet: FacetTransport, Needs: tcp, Test: trWriteOrderClient},
		Case{ID: "transport.write.copy", Facet: FacetTransport, Needs: tcp, Test: trWriteCopy(trTCP, false)},
		Case{ID: "transport.write.copy#unix", Facet: FacetTransport, Needs: unix, Test: trWriteCopy(trUnix, false)},
		Case{ID: "transport.write.copy#sequence", Facet: FacetTransport, Needs: tcp, Test: trWriteCopy(trTCP, true)},
		Case{ID: "transport.write.sequence", Facet: FacetTransport, Needs: tcp, Test: trWriteSequenceBasic},
		Case{ID: "transport.write.sequence#interleaved", Facet: FacetTransport, Needs: tcp, Test: trWriteSequenceInterleaved},
		Case{ID: "transport.write.sequence#large", Facet: FacetTransport, Needs: tcp, Test: trWriteSequenceLarge},
		Case{ID: "transport.write.buffered", Facet: FacetTransport, Needs: tcp, Test: trWriteBuffered},
		Case{ID: "transport.write.closed", Facet: FacetTransport, Needs: tcp, Test: trWriteClosedAfterLose},
		Case{ID: "transport.write.closed#during-flush", Facet: FacetTransport, Needs: tcp, Test: trWriteClosedDuringFlush},
		Case{ID: "transport.write.closed#after-abort", Facet: FacetTransport, Needs: tcp, Test: trWriteClosedAfterAbort},
		Case{ID: "transport.write.closed#after-lost", Facet: FacetTransport, Needs: tcp, Test: trWriteClosedAfterLost},
		Case{ID: "transport.write.closed#after-lose-write", Facet: FacetTransport, Needs: tcp, Test: trWriteClosedAfterLoseWrite},
		Case{ID: "transport.write.vanished", Facet: FacetTransport, Needs: tcp, Test: trWriteVanishedReset},
		Case{ID: "transport.write.vanished#paused-reading", Facet: FacetTransport, Needs: tcp, Test: trWriteVanishedPaused(trTCP)},
		Case{ID: "transport.write.vanished#unix", Facet: FacetTransport, Needs: unix, Test: trWriteVanishedPaused(trUnix)},

		// Closing.
		Case{ID: "transport.lose.flush", Facet: FacetTransport, Needs: tcp, Test: trLoseFlush(trTCP)},
		Case{ID: "transport.lose.flush#unix", Facet: FacetTransport, Needs: unix, Test: trLoseFlush(trUnix)},
		Case{ID: "transport.lose.flush#client", Facet: FacetTransport, Needs: tcp, Test: trLoseFlushClient},
		Case{ID: "transport.abort.discard", Facet: FacetTransport, Needs: tcp, Test: trAbortDiscard(false)},
		Case{ID: "transport.abort.discard#during-lose", Facet: FacetTransport, Needs: tcp, Test: trAbortDiscard(true)},
		Case{ID: "transport.half.write", Facet: FacetTransport, Needs: tcp, Test: trHalfWrite(trTCP)},
		Case{ID: "transport.half.write#unix", Facet: FacetTransport, Needs: unix, Test: trHalfWrite(trUnix)},
		Case{ID: "transport.half.write#producer", Facet: FacetTransport, Needs: tcp, Test: trHalfWriteProducer},
		Case{ID: "transport.half.notify", Facet: FacetTransport, Needs: tcp, Test: trHalfNotify(trTCP)},
		Case{ID: "transport.half.notify#unix", Facet: FacetTransport, Needs: unix, Test: trHalfNotify(trUnix)},
		Case{ID: "transport.lost.once", Facet: FacetTransport, Needs: tcp, Test: trLostOnceLoseTwice},
		Case{ID: "transport.lost.once#abort-twice", Facet: FacetTransport, Needs: tcp, Test: trLostOnceAbortTwice},
		Case{ID: "transport.lost.once#both-close", Facet: FacetTransport, Needs: tcp, Test: trLostOnceBothClose},
		Case{ID: "transport.lost.once#lose-write-then-lose", Facet: FacetTransport, Needs: tcp, Test: trLostOnceLoseWriteThenLose},
		Case{ID: "transport.lost.once#reset-while-flushing", Facet: FacetTransport, Needs: tcp, Test: trLostOnceResetWhileFlushing},
		Case{ID: "transport.lost.last", Facet: FacetTransport, Needs: tcp, Test: trLostLastMethods},
		Case{ID: "transport.lost.last#data-after-abort", Facet: FacetTransport, Needs: tcp, Test: trLostLastDataAfterAbort},
		Case{ID: "transport.lost.last#half-close", Facet: FacetTransport, Needs: tcp, Test: trLostLastHalfClose},
		Case{ID: "transport.lost.async", Facet: FacetTransport, Needs: tcp, Test: trLostAsyncLose},
		Case{ID: "transport.lost.async#abort", Facet: FacetTransport, Needs: tcp, Test: trLostAsyncAbort},
		Case{ID: "transport.lost.async#resume", Facet: FacetTransport, Needs: tcp, Test: trLostAsyncResume},
		Case{ID: "transport.lost.async#lose-write", Facet: FacetTransport, Needs: tcp, Test: trLostAsyncLoseWrite},
		Case{ID: "transport.lost.async#write-to-dead-peer", Facet: FacetTransport, Needs: tcp, Test: trLostAsyncDeadPeer},

		// Producers.
		Case{ID: "transport.producer.push", Facet: FacetTransport, Needs: tcp, Test: trProducerPush(trTCP)},
		Case{ID: "transport.producer.push#unix", Facet: FacetTransport, Needs: unix, Test: trProducerPush(trUnix)},
		Case{ID: "transport.producer.pull", Facet: FacetTransport, Needs: tcp, Test: trProducerPull(trTCP)},
		Case{ID: "transport.producer.pull#unix", Facet: FacetTransport, Needs: unix, Test: trProducerPull(trUnix)},
		Case{ID: "transport.producer.registered", Facet: FacetTransport, Needs: tcp, Test: trProducerRegistered},
		Case{ID: "transport.producer.stop", Facet: FacetTransport, Needs: tcp, Test: trProducerStop("abort")},
		Case{ID: "transport.producer.stop#peer-close", Facet: FacetTransport, Needs: tcp, Test: trProducerStop("peer-close")},
		Case{ID: "transport.producer.stop#reset", Facet: FacetTransport, Needs: tcp, Test: trProducerStop("reset")},
		Case{ID: "transport.producer.stop#unregistered", Facet: FacetTransport, Needs: tcp, Test: trProducerStop("unregistered")},
		Case{ID: "transport.producer.lose-waits", Facet: FacetTransport, Needs: tcp, Test: trProducerLoseWaitsPull},
		Case{ID: "transport.producer.lose-waits#push", Facet: FacetTransport, Needs: tcp, Test: trProducerLoseWaitsPush},

		// TCP options, the loop and failures.
		Case{ID: "transport.tcp.options", Facet: FacetTransport, Needs: tcp, Test: trTCPOptions(false)},
		Case{ID: "transport.tcp.options#client", Facet: FacetTransport, Needs: tcp, Test: trTCPOptions(true)},
		Case{ID: "transport.loop.goroutine", Facet: FacetTransport, Needs: tcp, Test: trLoopGoroutine},
		Case{ID: "transport.loop.goroutine#both-ends", Facet: FacetTransport, Needs: tcp, Test: trLoopGoroutineBothEnds},
		Case{ID: "transport.panic.abort", Facet: FacetTransport, Needs: tcp, Test: trPanicDataReceived},
		Case{ID: "transport.panic.abort#connection-made", Facet: FacetTransport, Needs: tcp, Test: trPanicConnectionMade},
		Case{ID: "transport.panic.abort#read-connection-lost", Facet: FacetTransport, Needs: tcp, Test: trPanicReadConnectionLost},
		Case{ID: "transport.panic.abort#write-connection-lost", Facet: FacetTransport, Needs: tcp, Test: trPanicWriteConnectionLost},
		Case{ID: "transport.panic.abort#connection-lost", Facet: FacetTransport, Needs: tcp, Test: trPanicConnectionLost},

		// Volume.
		Case{ID: "transport.stream.bulk", Facet: FacetTransport, Needs: tcp, Test: trBulk(trTCP)},
		Case{ID: "transport.stream.bulk#unix", Facet: FacetTransport, Needs: unix, Test: trBulk(trUnix)},
		Case{ID: "transport.stream.bulk#both-ends", Facet: FacetTransport, Needs: tcp, Test: trBulkBothEnds},
		Case{ID: "transport.stream.many", Facet: FacetTransport, Needs: tcp, Test: trManyRaw(trTCP)},
		Case{ID: "transport.stream.many#unix", Facet: FacetTransport, Needs: unix, Test: trManyRaw(trUnix)},
		Case{ID: "transport.stream.many#reactor-clients", Facet: FacetTransport, Needs: tcp, Test: trManyReactorClients},
	)
}

const (
	trKiB = 1 << 10
	trMiB = 1 << 20
)

// trSendStream writes n bytes of the stream seed in chunks of varying size.
func trSendStream(conn net.Conn, seed uint64, n int) error {
	for off, i := 0, 0; off < n; i++ {
		m := min(1+(i*7919)%16381, n-off)
		if _, err := conn.Write(trData(seed, off, m)); err != nil {
			return fmt.Errorf("writing at %d of %d: %w", off, n, err)
		}
		off += m
	}
	return nil
}

// trWriteVaried writes n bytes of the stream seed through p in many writes of
// varying size, each of which must return nil.
func trWriteVaried(p *trProto, seed uint64, n int) {
	for off, i := 0, 0; off < n; i++ {
		m := min(1+(i*131)%1021, n-off)
		p.mustWrite(trData(seed, off, m))
		off += m
	}
}

// trDrainToEOF reads from conn until end of file or an error and returns how
// many bytes came and whether they were a prefix of the stream seed.
func trDrainToEOF(conn net.Conn, seed uint64) (int, error, error) {
	k := trCheck{seed: seed}
	buf := make([]byte, 64*trKiB)
	for {
		n, err := conn.Read(buf)
		k.feed(buf[:n])
		if err != nil {
			return k.n, k.bad, err
		}
	}
}

// trLostReason checks the reason ConnectionLost got.
func trLostReason(c *C, p *trProto, want error) {
	c.Helper()
	if p.lost != 1 {
		c.Errorf("%s: ConnectionLost was called %d times, want once", p.name, p.lost)
		return
	}
	c.ErrIs(p.reason, want, p.name+": ConnectionLost reason")
}

// --- Reading ---

func trReadOrder(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 2 * trMiB
		p := e.proto("server", trPlain).setCheck(1).stopOnLost()
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			if err := trSendStream(conn, 1, total); err != nil {
				return err
			}
			return conn.Close()
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes received")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trReadOrderClient(c *C) {
	e := trStart(c, trTCP)
	const total = 2 * trMiB
	p := e.proto("client", trPlain).setCheck(2).stopOnLost()
	addr, accepted := e.rawListen()
	e.connect(addr, p.once())
	e.goAccepted("server", accepted, func(conn net.Conn) error {
		if err := trSendStream(conn, 2, total); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.NoErr(p.check.result(total), "bytes received by the connecting side")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trReadScratch echoes every chunk, then scribbles over the slice: neither
// the echo nor later chunks may change.
func trReadScratch(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 8 * trMiB
		p := e.proto("server", trPlain).setCheck(3).stopOnLost()
		p.onData = func(p *trProto, b []byte) {
			p.mustWrite(b)
			for i := range b {
				b[i] = 0xA5
			}
		}
		addr := e.listen(p.once())
		// The peer sends everything before reading the echo, so that the
		// echo has to wait in the transport's buffer.
		e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
			if err := trSendStream(conn, 3, total); err != nil {
				return err
			}
			if err := trReadStream(conn, 3, total, false); err != nil {
				return fmt.Errorf("reading the echo: %w", err)
			}
			return conn.Close()
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes received")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trReadEOF: the peer sends and closes (or only shuts down its sending side);
// a plain protocol gets everything, then ConnectionLost(ErrConnectionDone).
func trReadEOF(n trNet, shutdownWrite bool) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 100 * trKiB
		p := e.proto("server", trPlain).setCheck(4).stopOnLost()
		var receivedAtLost int
		p.onLost = func(p *trProto, _ error) { receivedAtLost = p.received }
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			if err := trSendStream(conn, 4, total); err != nil {
				return err
			}
			if !shutdownWrite {
				return conn.Close()
			}
			if err := trCloseWrite(conn); err != nil {
				return err
			}
			// The protocol does not take half-closes, so the connection
			// closes: the peer reads the end of file.
			if err := trExpectEOF(conn); err != nil {
				return fmt.Errorf("after shutting down its sending side: %w", err)
			}
			return nil
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes received")
		c.Equal(receivedAtLost, total, "bytes received before ConnectionLost")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trReadEOFFlushes: the peer sends a byte and shuts down its sending side;
// the protocol, which does not take half-closes, answers with more than the
// socket takes at once. The answer still arrives whole before the close.
func trReadEOFFlushes(c *C) {
	e := trStart(c, trTCP)
	const total = 4 * trMiB
	p := e.proto("server", trPlain).stopOnLost()
	p.onData = func(p *trProto, b []byte) {
		p.mustWrite(trData(29, 0, total))
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		if err := trCloseWrite(conn); err != nil {
			return err
		}
		return trSlowRead(conn, 29, total)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trReadHalfClose: the peer sends and shuts down its sending side; a
// HalfCloseableProtocol gets ReadConnectionLost, then writes its reply, part
// of it on a later callback, and closes.
func trReadHalfClose(n trNet, reply int) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 64 * trKiB
		p := e.proto("server", trHalfClose).setCheck(5).stopOnLost()
		var receivedAtReadLost, readLostAtLost int
		p.onReadLost = func(p *trProto) {
			receivedAtReadLost = p.received
			half := reply / 2
			trWriteVaried(p, 6, half)
			// Still open on a later callback.
			e.later(10*time.Millisecond, func() {
				for off := half; off < reply; off += 64 * trKiB {
					p.mustWrite(trData(6, off, min(64*trKiB, reply-off)))
				}
				p.lose()
			})
		}
		p.onLost = func(p *trProto, _ error) { readLostAtLost = p.readLost }
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			if err := trSendStream(conn, 5, total); err != nil {
				return err
			}
			if err := trCloseWrite(conn); err != nil {
				return err
			}
			if err := trReadStream(conn, 6, reply, true); err != nil {
				return fmt.Errorf("reading the reply: %w", err)
			}
			return nil
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes received")
		c.Equal(p.readLost, 1, "ReadConnectionLost calls")
		c.Equal(receivedAtReadLost, total, "bytes received before ReadConnectionLost")
		c.Equal(readLostAtLost, 1, "ReadConnectionLost calls before ConnectionLost")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trReadReset: the peer resets the connection after the protocol has read
// what it sent (over TCP with SO_LINGER 0; over Unix by closing with data
// unread).
func trReadReset(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		p := e.proto("server", trPlain).stopOnLost()
		p.onData = func(p *trProto, b []byte) {
			reply := []byte("ok")
			if n == trUnix {
				// Left unread, so that closing resets the connection.
				reply = append(reply, bytes.Repeat([]byte(" unread"), 100)...)
			}
			p.mustWrite(reply)
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			if _, err := conn.Write([]byte("hello")); err != nil {
				return err
			}
			var b [2]byte
			if _, err := conn.Read(b[:]); err != nil {
				return fmt.Errorf("waiting for the reply: %w", err)
			}
			if n == trUnix {
				return conn.Close()
			}
			return trReset(conn)
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionLost)
		c.ErrIs(p.reason, syscall.ECONNRESET, "ConnectionLost reason")
	}
}

// trReadPauseCycles pauses reading every few chunks, sometimes resuming in the
// same call and sometimes on a timer; nothing may be lost or repeated, and
// nothing may arrive while paused (trProto checks that).
func trReadPauseCycles(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 2 * trMiB
		p := e.proto("server", trPlain).setCheck(7).stopOnLost()
		calls, cycles, quick := 0, 0, 0
		p.onData = func(p *trProto, b []byte) {
			calls++
			switch calls % 3 {
			case 0:
				p.pause()
				cycles++
				e.later(2*time.Millisecond, p.resume)
			case 1:
				p.pause()
				p.resume()
				quick++
			}
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			for off := 0; off < total; off += 4 * trKiB {
				if _, err := conn.Write(trData(7, off, 4*trKiB)); err != nil {
					return err
				}
			}
			return conn.Close()
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes received")
		c.True(cycles >= 2, "only %d pause/resume cycles happened in %d DataReceived calls; the case proves little", cycles, calls)
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trReadPauseMade pauses in ConnectionMade: nothing arrives until resumed.
func trReadPauseMade(c *C) {
	e := trStart(c, trTCP)
	const total = 10 * trKiB
	p := e.proto("server", trPlain).setCheck(8).stopOnLost()
	ready := e.join(2, func() {
		// Give the data time to arrive; it must not be delivered.
		e.later(50*time.Millisecond, func() {
			c.Equal(p.received, 0, "bytes delivered while paused")
			p.resume()
		})
	})
	p.onMade = func(p *trProto) {
		p.pause()
		ready()
	}
	p.onData = func(p *trProto, b []byte) {
		if p.received == total {
			p.mustWrite([]byte("ok"))
		}
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trSendStream(conn, 8, total); err != nil {
			return err
		}
		e.toLoop(ready)
		var b [2]byte
		if _, err := conn.Read(b[:]); err != nil {
			return fmt.Errorf("waiting for the reply: %w", err)
		}
		return conn.Close()
	})
	e.run()
	c.NoErr(p.check.result(total), "bytes received")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trReadPauseEOF: the peer sends and closes while reading is paused; after
// ResumeProducing the data comes first, then ConnectionLost.
func trReadPauseEOF(c *C) {
	e := trStart(c, trTCP)
	const total = 32 * trKiB
	p := e.proto("server", trPlain).setCheck(9).stopOnLost()
	var receivedAtLost int
	ready := e.join(2, func() {
		e.later(30*time.Millisecond, func() {
			c.Equal(p.lost, 0, "ConnectionLost calls while paused, before the data was delivered")
			c.Equal(p.received, 0, "bytes delivered while paused")
			p.resume()
		})
	})
	p.onMade = func(p *trProto) {
		p.pause()
		ready()
	}
	p.onLost = func(p *trProto, _ error) { receivedAtLost = p.received }
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trSendStream(conn, 9, total); err != nil {
			return err
		}
		if err := conn.Close(); err != nil {
			return err
		}
		e.toLoop(ready)
		return nil
	})
	e.run()
	c.NoErr(p.check.result(total), "bytes received")
	c.Equal(receivedAtLost, total, "bytes received before ConnectionLost")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trReadStopProducing(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	reply := trData(41, 0, 256*trKiB)
	p.onData = func(p *trProto, b []byte) {
		// Queue more than the socket takes at once, then stop: what is
		// buffered must still reach the peer before the close.
		p.mustWrite(reply)
		p.stopProducing()
		c.Equal(p.lost, 0, "ConnectionLost calls inside StopProducing")
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		return trReadStream(conn, 41, len(reply), true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// --- Writing ---

func trWriteOrderSmall(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 1 * trMiB
		p := e.proto("server", trPlain).stopOnLost()
		p.onMade = func(p *trProto) {
			trWriteVaried(p, 10, total)
			p.lose()
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			return trReadStream(conn, 10, total, true)
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trWriteOrderLarge(c *C) {
	e := trStart(c, trTCP)
	const total = 8 * trMiB
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite(trData(11, 0, total/2))
		p.mustWrite(trData(11, total/2, total/2))
		p.lose()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		return trReadStream(conn, 11, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteOrderClient(c *C) {
	e := trStart(c, trTCP)
	const total = 1 * trMiB
	p := e.proto("client", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		trWriteVaried(p, 12, total)
		p.lose()
	}
	addr, accepted := e.rawListen()
	e.connect(addr, p.once())
	e.goAccepted("server", accepted, func(conn net.Conn) error {
		return trReadStream(conn, 12, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trWriteCopy writes more than the peer (not reading yet) can take, then
// overwrites the slices it wrote and reuses them.
func trWriteCopy(n trNet, sequence bool) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const part = 2 * trMiB
		const total = 3 * part
		p := e.proto("server", trPlain).stopOnLost()
		written := make(chan struct{})
		p.onMade = func(p *trProto) {
			scribble := func(b []byte) {
				for i := range b {
					b[i] = 0x5A
				}
			}
			if sequence {
				bufs := [][]byte{trData(13, 0, part), trData(13, part, part), trData(13, 2*part, part)}
				if err := p.writeSeq(bufs); err != nil {
					p.errorf("WriteSequence: %v", err)
				}
				for _, b := range bufs {
					scribble(b)
				}
				bufs[0], bufs[1], bufs[2] = nil, nil, nil
			} else {
				// Each Write is followed at once by a scribble over its
				// slice, then the memory is reused for the next Write.
				buf := trData(13, 0, 2*part)
				p.mustWrite(buf)
				scribble(buf)
				copy(buf, trData(13, 2*part, part))
				p.mustWrite(buf[:part])
				scribble(buf)
			}
			p.lose()
			close(written)
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 4*trKiB), func(conn net.Conn) error {
			if err := e.wait(written, "the writes"); err != nil {
				return err
			}
			return trReadStream(conn, 13, total, true)
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trWriteSequenceBasic(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		c.NoErr(p.writeSeq(nil), "WriteSequence(nil)")
		c.NoErr(p.writeSeq([][]byte{}), "WriteSequence of no slices")
		c.NoErr(p.writeSeq([][]byte{[]byte("abc"), nil, {}, []byte("def"), []byte("g")}), "WriteSequence")
		c.NoErr(p.writeSeq([][]byte{nil, []byte("hij")}), "WriteSequence")
		p.lose()
	}
	addr := e.listen(p.once())
	var got []byte
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		b, err := trReadAll(conn)
		got = b
		return err
	})
	e.run()
	c.Equal(string(got), "abcdefghij", "bytes the peer received")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteSequenceInterleaved(c *C) {
	e := trStart(c, trTCP)
	const total = 2 * trMiB
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		off := 0
		for i := 0; off < total; i++ {
			m := min(1+(i*4099)%(96*trKiB), total-off)
			if i%2 == 0 {
				p.mustWrite(trData(14, off, m))
			} else {
				a := m / 3
				bufs := [][]byte{trData(14, off, a), nil, trData(14, off+a, m-a)}
				if err := p.writeSeq(bufs); err != nil {
					p.errorf("WriteSequence: %v", err)
				}
			}
			off += m
		}
		p.lose()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		return trReadStream(conn, 14, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteSequenceLarge(c *C) {
	e := trStart(c, trTCP)
	const slice = 64 * trKiB
	const total = 128 * slice
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		var bufs [][]byte
		for off := 0; off < total; off += slice {
			bufs = append(bufs, trData(15, off, slice))
		}
		c.NoErr(p.writeSeq(bufs), "WriteSequence")
		p.lose()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		return trReadStream(conn, 15, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trWriteBuffered writes far more than a peer that does not read can take;
// the loop must go on serving a timer and another connection meanwhile.
func trWriteBuffered(c *C) {
	e := trStart(c, trTCP)
	const total = 16 * trMiB
	readNow := make(chan struct{})
	var bulkRead atomic.Int64
	p := e.proto("bulk", trPlain).stopOnLost()
	echo := e.proto("echo", trPlain).stopOnLost()
	echo.onData = func(p *trProto, b []byte) { p.mustWrite(b) }
	echoAddr := e.listen(echo.once())
	p.onMade = func(p *trProto) {
		start := time.Now()
		p.mustWrite(trData(16, 0, total))
		p.lose()
		if d := time.Since(start); d > 5*time.Second {
			c.Errorf("Write of %d bytes to a peer that does not read took %v", total, d)
		}
		// A timer runs, and from it another connection is served, while
		// the bulk peer reads nothing.
		e.later(time.Millisecond, func() { trWriteBufferedEcho(e, echoAddr, &bulkRead, readNow) })
	}
	addr := e.listen(p.once())
	e.goPeer("bulk client", e.dial(addr, 4*trKiB), func(conn net.Conn) error {
		if err := e.wait(readNow, "the echo"); err != nil {
			return err
		}
		bulkRead.Store(1)
		return trReadStream(conn, 16, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
	trLostReason(c, echo, gyre.ErrConnectionDone)
}

func trWriteBufferedEcho(e *trEnv, echoAddr string, bulkRead *atomic.Int64, readNow chan struct{}) {
	c := e.c
	e.goPeer("echo client", e.dial(echoAddr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		var b [4]byte
		if _, err := conn.Read(b[:]); err != nil || string(b[:]) != "ping" {
			return fmt.Errorf("echo while another connection was stalled: got %q, %v", b[:], err)
		}
		conn.Close()
		e.toLoop(func() {
			c.Equal(bulkRead.Load(), 0, "bytes the stalled peer had read")
			close(readNow)
		})
		return nil
	})
}

func trWriteClosedAfterLose(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite([]byte("a"))
		p.lose()
		c.ErrIs(p.write([]byte("b")), gyre.ErrNotConnected, "Write after LoseConnection")
		c.ErrIs(p.writeSeq([][]byte{[]byte("c")}), gyre.ErrNotConnected, "WriteSequence after LoseConnection")
		e.later(time.Millisecond, func() {
			c.ErrIs(p.write([]byte("d")), gyre.ErrNotConnected, "Write after LoseConnection, on a later callback")
		})
	}
	addr := e.listen(p.once())
	var got []byte
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		b, err := trReadAll(conn)
		got = b
		return err
	})
	e.run()
	c.Equal(string(got), "a", "bytes the peer received")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteClosedDuringFlush(c *C) {
	e := trStart(c, trTCP)
	const total = 8 * trMiB
	readNow := make(chan struct{})
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite(trData(17, 0, total))
		p.lose()
		e.later(10*time.Millisecond, func() {
			c.Equal(p.lost, 0, "ConnectionLost calls before the peer read anything")
			c.ErrIs(p.write([]byte("late")), gyre.ErrNotConnected, "Write while LoseConnection is flushing")
			c.ErrIs(p.writeSeq([][]byte{[]byte("late")}), gyre.ErrNotConnected, "WriteSequence while LoseConnection is flushing")
			close(readNow)
		})
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 4*trKiB), func(conn net.Conn) error {
		if err := e.wait(readNow, "the late writes"); err != nil {
			return err
		}
		return trReadStream(conn, 17, total, true)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteClosedAfterAbort(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.abort()
		c.ErrIs(p.write([]byte("b")), gyre.ErrNotConnected, "Write after AbortConnection")
		c.ErrIs(p.writeSeq([][]byte{[]byte("c")}), gyre.ErrNotConnected, "WriteSequence after AbortConnection")
	}
	addr := e.listen(p.once())
	var got []byte
	var rerr error
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		got, rerr = trReadAll(conn)
		return nil
	})
	e.run()
	c.Equal(len(got), 0, "bytes the peer received")
	c.True(rerr == nil || trBroken(rerr), "the peer read %v, want end of file or a reset", rerr)
	trLostReason(c, p, gyre.ErrConnectionAborted)
}

func trWriteClosedAfterLost(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	e.expect(1)
	p.onLost = func(p *trProto, _ error) {
		c.ErrIs(p.write([]byte("b")), gyre.ErrNotConnected, "Write in ConnectionLost")
		c.ErrIs(p.writeSeq([][]byte{[]byte("c")}), gyre.ErrNotConnected, "WriteSequence in ConnectionLost")
		e.later(5*time.Millisecond, func() {
			c.ErrIs(p.write([]byte("d")), gyre.ErrNotConnected, "Write after ConnectionLost")
			c.ErrIs(p.writeSeq([][]byte{[]byte("e")}), gyre.ErrNotConnected, "WriteSequence after ConnectionLost")
			e.done()
		})
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error { return conn.Close() })
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trWriteClosedAfterLoseWrite(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).keepData().stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite([]byte("a"))
		p.loseWrite()
		c.ErrIs(p.write([]byte("b")), gyre.ErrNotConnected, "Write after LoseWriteConnection")
		c.ErrIs(p.writeSeq([][]byte{[]byte("c")}), gyre.ErrNotConnected, "WriteSequence after LoseWriteConnection")
	}
	addr := e.listen(p.once())
	var got []byte
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		b, err := trReadAll(conn)
		got = b
		if err != nil {
			return err
		}
		if _, err := conn.Write([]byte("x")); err != nil {
			return fmt.Errorf("writing after the end of file: %w", err)
		}
		return conn.Close()
	})
	e.run()
	c.Equal(string(got), "a", "bytes the peer received")
	c.Equal(string(p.got), "x", "bytes received after LoseWriteConnection")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trPump writes chunk-sized pieces of the stream seed every millisecond until
// the connection is lost, checking that Write returns nil or ErrNotConnected.
type trPump struct {
	p       *trProto
	seed    uint64
	chunk   int
	written int
}

func (w *trPump) start(e *trEnv) {
	var tick func()
	tick = func() {
		if w.p.lost > 0 {
			return
		}
		err := w.p.write(trData(w.seed, w.written, w.chunk))
		switch {
		case err == nil:
			w.written += w.chunk
		case errors.Is(err, gyre.ErrNotConnected):
		default:
			w.p.errorf("Write to a vanished peer returned %v; want nil or ErrNotConnected", err)
		}
		e.later(time.Millisecond, tick)
	}
	tick()
}

func trVanishedReason(c *C, p *trProto) {
	c.Helper()
	trLostReason(c, p, gyre.ErrConnectionLost)
	if !errors.Is(p.reason, syscall.EPIPE) && !errors.Is(p.reason, syscall.ECONNRESET) {
		c.Errorf("ConnectionLost reason %v wraps neither EPIPE nor ECONNRESET", p.reason)
	}
}

// trWriteVanishedReset keeps writing while the peer reads a little and then
// resets the connection.
func trWriteVanishedReset(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	w := &trPump{p: p, seed: 18, chunk: 64 * trKiB}
	p.onMade = func(p *trProto) { w.start(e) }
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trReadStream(conn, 18, 256*trKiB, false); err != nil {
			return err
		}
		return trReset(conn)
	})
	e.run()
	trVanishedReason(c, p)
}

// trWriteVanishedPaused: reading is paused, the peer closes, and the protocol
// keeps writing; only the writes can find out that the peer has gone.
func trWriteVanishedPaused(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		p := e.proto("server", trPlain).stopOnLost()
		w := &trPump{p: p, seed: 19, chunk: trKiB}
		ready := e.join(2, func() { w.start(e) })
		p.onMade = func(p *trProto) {
			p.pause()
			ready()
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			if err := conn.Close(); err != nil {
				return err
			}
			e.toLoop(ready)
			return nil
		})
		e.run()
		trVanishedReason(c, p)
	}
}

// --- Closing ---

// trSlowRead reads the stream seed in small pieces, resting now and then, and
// expects the end of file after total bytes.
func trSlowRead(conn net.Conn, seed uint64, total int) error {
	k := trCheck{seed: seed}
	buf := make([]byte, 16*trKiB)
	next := 256 * trKiB
	for k.n < total {
		n, err := conn.Read(buf)
		k.feed(buf[:n])
		if k.bad != nil {
			return k.bad
		}
		if err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", k.n, total, err)
		}
		if k.n >= next {
			next += 256 * trKiB
			time.Sleep(time.Millisecond)
		}
	}
	if err := k.result(total); err != nil {
		return err
	}
	return trExpectEOF(conn)
}

func trLoseFlush(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 8 * trMiB
		p := e.proto("server", trPlain).stopOnLost()
		p.onMade = func(p *trProto) {
			for off := 0; off < total; off += trMiB {
				p.mustWrite(trData(20, off, trMiB))
			}
			p.lose()
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
			return trSlowRead(conn, 20, total)
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trLoseFlushClient(c *C) {
	e := trStart(c, trTCP)
	const total = 8 * trMiB
	p := e.proto("client", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite(trData(21, 0, total))
		p.lose()
	}
	addr, accepted := e.rawListen()
	e.connect(addr, p.once())
	e.goAccepted("server", accepted, func(conn net.Conn) error {
		return trSlowRead(conn, 21, total)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trAbortDiscard fills every buffer towards a peer that does not read, then
// aborts (after LoseConnection, if duringLose): the connection must close at
// once, and the peer gets only part of the data.
func trAbortDiscard(duringLose bool) func(*C) {
	return func(c *C) {
		e := trStart(c, trTCP)
		const total = 32 * trMiB
		readNow := make(chan struct{})
		p := e.proto("server", trPlain).stopOnLost()
		p.onMade = func(p *trProto) {
			p.mustWrite(trData(22, 0, total))
			if duringLose {
				p.lose()
			}
			e.later(20*time.Millisecond, func() {
				c.Equal(p.lost, 0, "ConnectionLost calls before AbortConnection")
				p.abort()
			})
		}
		p.onLost = func(p *trProto, _ error) { close(readNow) }
		addr := e.listen(p.once())
		var got int
		var prefixErr, readErr error
		e.goPeer("client", e.dial(addr, 4*trKiB), func(conn net.Conn) error {
			// The peer reads only once the connection is lost on the
			// reactor's side: the abort cannot have waited for it.
			if err := e.wait(readNow, "ConnectionLost"); err != nil {
				return err
			}
			got, prefixErr, readErr = trDrainToEOF(conn, 22)
			return nil
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionAborted)
		c.True(got < total, "the peer received all %d bytes: the buffered data was not discarded", got)
		c.NoErr(prefixErr, "what the peer received before the abort")
		c.True(trBroken(readErr), "the peer's read ended with %v, want end of file or a reset", readErr)
	}
}

// trHalfWrite: LoseWriteConnection flushes a large buffer to a slow peer, which
// then sees the end of file and answers; the answer is still read.
// trHalfWriteProducer: LoseWriteConnection does not wait for a registered
// producer (only LoseConnection does): the peer gets its end of file once
// the buffer has drained, while the producer stays registered.
func trHalfWriteProducer(c *C) {
	e := trStart(c, trTCP)
	const total = 1 * trMiB
	p := e.proto("server", trPlain).stopOnLost()
	q := &trProducer{e: e, name: "producer"}
	p.onMade = func(p *trProto) {
		c.NoErr(p.t.RegisterProducer(q, true), "RegisterProducer")
		p.mustWrite(trData(27, 0, total))
		p.loseWrite()
	}
	p.onLost = func(p *trProto, _ error) {}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		// Reads to the end of file, which only comes if the write side
		// was shut down with the producer still registered.
		if err := trReadStream(conn, 27, total, true); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trHalfWrite(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 4 * trMiB
		const answer = 100 * trKiB
		p := e.proto("server", trPlain).setCheck(24).stopOnLost()
		p.onMade = func(p *trProto) {
			p.mustWrite(trData(23, 0, total))
			p.loseWrite()
		}
		var receivedAtLost int
		p.onLost = func(p *trProto, _ error) { receivedAtLost = p.received }
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
			if err := trSlowRead(conn, 23, total); err != nil {
				return err
			}
			if err := trSendStream(conn, 24, answer); err != nil {
				return fmt.Errorf("answering after the end of file: %w", err)
			}
			return conn.Close()
		})
		e.run()
		c.NoErr(p.check.result(answer), "bytes received after LoseWriteConnection")
		c.Equal(receivedAtLost, answer, "bytes received before ConnectionLost")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trHalfNotify: WriteConnectionLost comes only once the buffer has drained,
// which cannot happen before the peer reads.
func trHalfNotify(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 4 * trMiB
		readNow := make(chan struct{})
		p := e.proto("server", trNotifier).keepData().stopOnLost()
		p.onMade = func(p *trProto) {
			p.mustWrite(trData(25, 0, total))
			p.loseWrite()
			c.Equal(p.writeLost, 0, "WriteConnectionLost calls inside LoseWriteConnection")
			e.later(30*time.Millisecond, func() {
				c.Equal(p.writeLost, 0, "WriteConnectionLost calls before the peer read the buffered data")
				close(readNow)
			})
		}
		var writeLostAtLost int
		p.onLost = func(p *trProto, _ error) { writeLostAtLost = p.writeLost }
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
			if err := e.wait(readNow, "the check"); err != nil {
				return err
			}
			if err := trReadStream(conn, 25, total, true); err != nil {
				return err
			}
			if _, err := conn.Write([]byte("bye")); err != nil {
				return err
			}
			return conn.Close()
		})
		e.run()
		c.Equal(p.writeLost, 1, "WriteConnectionLost calls")
		c.Equal(writeLostAtLost, 1, "WriteConnectionLost calls before ConnectionLost")
		c.Equal(string(p.got), "bye", "bytes received after LoseWriteConnection")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trLinger waits a little after ConnectionLost before letting the case end,
// so that a second ConnectionLost would be seen.
func trLinger(e *trEnv, p *trProto) {
	e.expect(1)
	prev := p.onLost
	p.onLost = func(p *trProto, reason error) {
		if prev != nil {
			prev(p, reason)
		}
		e.later(30*time.Millisecond, e.done)
	}
}

func trLostOnceLoseTwice(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	trLinger(e, p)
	p.onMade = func(p *trProto) {
		p.mustWrite([]byte("x"))
		p.lose()
		p.lose()
		e.later(time.Millisecond, func() {
			p.lose()
			p.abort()
			p.lose()
		})
	}
	addr := e.listen(p.once())
	var got []byte
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		b, err := trReadAll(conn)
		got = b
		if err != nil && !trBroken(err) {
			return err
		}
		return nil
	})
	e.run()
	c.Equal(p.lost, 1, "ConnectionLost calls")
	c.True(p.reason != nil, "ConnectionLost had a nil reason")
	c.True(len(got) <= 1, "the peer received %q", got)
}

func trLostOnceAbortTwice(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	trLinger(e, p)
	p.onMade = func(p *trProto) {
		p.abort()
		p.abort()
		p.lose()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		_, err := trReadAll(conn)
		if err != nil && !trBroken(err) {
			return err
		}
		return nil
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionAborted)
}

// trLostOnceBothClose: the peer closes just as the protocol loses the
// connection.
func trLostOnceBothClose(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	trLinger(e, p)
	p.onData = func(p *trProto, b []byte) {
		if p.received == len(b) {
			p.mustWrite([]byte("y"))
			p.lose()
		}
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.Equal(p.lost, 1, "ConnectionLost calls")
	c.True(p.reason != nil, "ConnectionLost had a nil reason")
}

func trLostOnceLoseWriteThenLose(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trNotifier).stopOnLost()
	trLinger(e, p)
	p.onMade = func(p *trProto) {
		p.mustWrite([]byte("x"))
		p.loseWrite()
		p.lose()
		p.loseWrite()
	}
	addr := e.listen(p.once())
	var got []byte
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		b, err := trReadAll(conn)
		got = b
		if err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.Equal(string(got), "x", "bytes the peer received")
	c.True(p.writeLost <= 1, "WriteConnectionLost was called %d times", p.writeLost)
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trLostOnceResetWhileFlushing(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	trLinger(e, p)
	p.onMade = func(p *trProto) {
		p.mustWrite(trData(26, 0, 16*trMiB))
		p.lose()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 8*trKiB), func(conn net.Conn) error {
		if err := trReadStream(conn, 26, 128*trKiB, false); err != nil {
			return err
		}
		return trReset(conn)
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionLost)
}

// trCallEverything calls every transport method on a lost connection.
func trCallEverything(c *C, p *trProto, when string) {
	c.ErrIs(p.write([]byte("b")), gyre.ErrNotConnected, "Write "+when)
	c.ErrIs(p.writeSeq([][]byte{[]byte("c")}), gyre.ErrNotConnected, "WriteSequence "+when)
	p.lose()
	p.abort()
	p.loseWrite()
	p.pause()
	p.resume()
	p.stopProducing()
	p.t.UnregisterProducer()
}

func trLostLastMethods(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trHalfClose|trNotifier).stopOnLost()
	trLinger(e, p)
	p.onReadLost = func(p *trProto) { p.lose() }
	prev := p.onLost
	p.onLost = func(p *trProto, reason error) {
		trCallEverything(c, p, "in ConnectionLost")
		e.later(5*time.Millisecond, func() { trCallEverything(c, p, "after ConnectionLost") })
		prev(p, reason)
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.Equal(p.lost, 1, "ConnectionLost calls")
}

// trLostLastDataAfterAbort: the peer goes on sending after the protocol
// aborted; nothing more may reach the protocol.
func trLostLastDataAfterAbort(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	trLinger(e, p)
	p.onData = func(p *trProto, b []byte) {
		if p.received >= 64*trKiB && p.received-len(b) < 64*trKiB {
			p.abort()
		}
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		for off := 0; off < 64*trMiB; off += 16 * trKiB {
			if _, err := conn.Write(trData(27, off, 16*trKiB)); err != nil {
				if trBroken(err) {
					return nil
				}
				return err
			}
		}
		return errors.New("the peer could write 64 MiB after the abort")
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionAborted)
}

// trLostLastHalfClose: after ConnectionLost, neither ReadConnectionLost nor
// WriteConnectionLost comes.
func trLostLastHalfClose(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trHalfClose|trNotifier).stopOnLost()
	trLinger(e, p)
	p.onData = func(p *trProto, b []byte) {
		p.mustWrite(bytes.Repeat([]byte("z"), 1<<20))
		p.loseWrite()
		p.abort()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		if err := trCloseWrite(conn); err != nil {
			return err
		}
		if _, err := trReadAll(conn); err != nil && !trBroken(err) {
			return err
		}
		return nil
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionAborted)
	c.Equal(p.writeLost, 0, "WriteConnectionLost calls after the buffer was thrown away")
}

func trLostAsyncLose(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	p.onMade = func(p *trProto) {
		p.mustWrite([]byte("x"))
		p.lose()
		c.Equal(p.lost, 0, "ConnectionLost calls when LoseConnection returned")
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		_, err := trReadAll(conn)
		return err
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trLostAsyncAbort(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	p.onData = func(p *trProto, b []byte) {
		p.abort()
		c.Equal(p.lost, 0, "ConnectionLost calls when AbortConnection returned")
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		if _, err := trReadAll(conn); err != nil && !trBroken(err) {
			return err
		}
		return nil
	})
	e.run()
	trLostReason(c, p, gyre.ErrConnectionAborted)
}

// trLostAsyncResume: data waiting while reading is paused is not delivered
// from inside ResumeProducing.
func trLostAsyncResume(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).keepData().stopOnLost()
	ready := e.join(2, func() {
		e.later(30*time.Millisecond, func() {
			p.resume()
			c.Equal(p.received, 0, "bytes delivered when ResumeProducing returned")
		})
	})
	p.onMade = func(p *trProto) {
		p.pause()
		ready()
	}
	p.onData = func(p *trProto, b []byte) {
		if len(p.got) == 5 {
			p.mustWrite([]byte("ok"))
		}
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("hello")); err != nil {
			return err
		}
		e.toLoop(ready)
		var b [2]byte
		if _, err := conn.Read(b[:]); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.Equal(string(p.got), "hello", "bytes received")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trLostAsyncLoseWrite(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trNotifier).stopOnLost()
	p.onMade = func(p *trProto) {
		p.loseWrite()
		c.Equal(p.writeLost, 0, "WriteConnectionLost calls when LoseWriteConnection returned")
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trExpectEOF(conn); err != nil {
			return err
		}
		return conn.Close()
	})
	e.run()
	c.Equal(p.writeLost, 1, "WriteConnectionLost calls")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trLostAsyncDeadPeer writes many times to a peer that has reset the
// connection, within one callback: no ConnectionLost inside any Write.
func trLostAsyncDeadPeer(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	ready := e.join(2, func() {
		e.later(20*time.Millisecond, func() {
			for i := 0; i < 50; i++ {
				err := p.write(trData(28, i*trKiB, trKiB))
				if err != nil && !errors.Is(err, gyre.ErrNotConnected) {
					p.errorf("Write to a peer that reset the connection: %v; want nil or ErrNotConnected", err)
				}
			}
			c.Equal(p.lost, 0, "ConnectionLost calls when the Write calls returned")
		})
	})
	p.onMade = func(p *trProto) {
		p.pause()
		ready()
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trReset(conn); err != nil {
			return err
		}
		e.toLoop(ready)
		return nil
	})
	e.run()
	trVanishedReason(c, p)
}

// --- Producers ---

// trSteady calls f once cond has held at every check for 50 ms (checking
// every 10 ms), or at once if stop() becomes true first. Cases use it to wait
// until a producer has been held back for good by a peer that does not read.
func trSteady(e *trEnv, cond func() bool, stop func() bool, f func()) {
	held := 0
	var check func()
	check = func() {
		switch {
		case stop():
			f()
			return
		case cond():
			held++
		default:
			held = 0
		}
		if held > 5 {
			f()
			return
		}
		e.later(10*time.Millisecond, check)
	}
	e.later(10*time.Millisecond, check)
}

// trProducerPush streams into a peer that does not read until the producer
// has been paused for good, then reads everything.
func trProducerPush(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 24 * trMiB
		const chunk = 16 * trKiB
		readNow := make(chan struct{})
		p := e.proto("server", trPlain).stopOnLost()
		q := &trProducer{e: e, name: "producer"}
		written, writtenAtPause, writtenHeld, resumesHeld := 0, -1, 0, 0
		var pump func()
		var dc gyre.DelayedCall
		pump = func() {
			dc = nil
			if p.lost > 0 {
				return
			}
			for i := 0; i < 64 && !q.paused && written < total; i++ {
				p.mustWrite(trData(29, written, chunk))
				written += chunk
			}
			if written >= total {
				p.t.UnregisterProducer()
				p.lose()
				return
			}
			if !q.paused {
				dc = e.later(time.Millisecond, pump)
			}
		}
		q.onPause = func() {
			if writtenAtPause < 0 {
				writtenAtPause = written
				// A producer may overshoot: a write while paused is
				// still accepted.
				e.later(0, func() {
					if q.paused && p.lost == 0 && written < total {
						p.mustWrite(trData(29, written, chunk))
						written += chunk
					}
				})
			}
			if dc != nil {
				_ = dc.Cancel()
				dc = nil
			}
		}
		q.onResume = func() {
			if dc == nil {
				dc = e.later(0, pump)
			}
		}
		p.onMade = func(p *trProto) {
			c.NoErr(p.t.RegisterProducer(q, true), "RegisterProducer")
			pump()
			seen := -1
			trSteady(e, func() bool {
				same := len(q.seq) == seen
				seen = len(q.seq)
				return q.paused && same
			}, func() bool { return written >= total || p.lost > 0 }, func() {
				writtenHeld, resumesHeld = written, q.resumes
				close(readNow)
			})
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 16*trKiB), func(conn net.Conn) error {
			if err := e.wait(readNow, "the producer to be held back"); err != nil {
				return err
			}
			return trReadStream(conn, 29, total, true)
		})
		e.run()
		trLostReason(c, p, gyre.ErrConnectionDone)
		c.True(q.pauses >= 1, "the producer was never paused, with %d bytes written to a peer that did not read", written)
		c.True(writtenHeld < total, "the producer was never held back: all %d bytes were written before the peer read any", writtenHeld)
		c.True(q.resumes > resumesHeld, "the producer was not resumed once the peer read")
		c.True(writtenAtPause < 0 || writtenAtPause > 64*trKiB,
			"the producer was paused when only %d bytes had been written; the high water mark is 64 KiB", writtenAtPause)
		for i, s := range q.seq {
			want := "pause"
			if i%2 == 1 {
				want = "resume"
			}
			if s != want {
				c.Errorf("producer calls %v do not alternate PauseProducing, ResumeProducing, ...", q.seq)
				break
			}
		}
		c.Equal(q.stop, 0, "StopProducing calls to a producer unregistered before the close")
	}
}

// trProducerPull: a pull producer writes one chunk per ResumeProducing. While
// the peer does not read, the calls must stop; once it reads they go on to
// the end. The producer also has PauseProducing, which must never be called.
func trProducerPull(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const chunk = 64 * trKiB
		const chunks = 256 // 16 MiB, far more than the kernel buffers hold
		readNow := make(chan struct{})
		p := e.proto("server", trPlain).stopOnLost()
		q := &trProducer{e: e, name: "producer"}
		sent, sentHeld := 0, 0
		q.onResume = func() {
			if sent >= chunks {
				p.errorf("ResumeProducing after UnregisterProducer")
				return
			}
			p.mustWrite(trData(30, sent*chunk, chunk))
			sent++
			if sent == chunks {
				p.t.UnregisterProducer()
				p.lose()
			}
		}
		q.onPause = func() { p.errorf("a pull producer was paused") }
		p.onMade = func(p *trProto) {
			c.NoErr(p.t.RegisterProducer(q, false), "RegisterProducer")
			seen := -1
			trSteady(e, func() bool {
				same := sent == seen
				seen = sent
				return same
			}, func() bool { return sent >= chunks || p.lost > 0 }, func() {
				sentHeld = sent
				close(readNow)
			})
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 16*trKiB), func(conn net.Conn) error {
			if err := e.wait(readNow, "the producer to be held back"); err != nil {
				return err
			}
			return trReadStream(conn, 30, chunks*chunk, true)
		})
		e.run()
		c.True(sentHeld >= 1, "ResumeProducing was never called on a pull producer")
		c.True(sentHeld < chunks, "the pull producer was resumed %d times while the peer read nothing", sentHeld)
		c.Equal(sent, chunks, "chunks written")
		c.Equal(q.pauses, 0, "PauseProducing calls to a pull producer")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trProducerRegistered(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trPlain).stopOnLost()
	q1 := &trProducer{e: e, name: "first"}
	q2 := &trProducer{e: e, name: "second"}
	q3 := &trProducer{e: e, name: "third"}
	p.onMade = func(p *trProto) {
		t := p.t
		c.NoErr(t.RegisterProducer(q1, true), "RegisterProducer")
		c.ErrIs(t.RegisterProducer(q2, true), gyre.ErrProducerRegistered, "a second streaming RegisterProducer")
		c.ErrIs(t.RegisterProducer(q2, false), gyre.ErrProducerRegistered, "a second pull RegisterProducer")
		c.ErrIs(t.RegisterProducer(q1, true), gyre.ErrProducerRegistered, "registering the same producer again")
		t.UnregisterProducer()
		t.UnregisterProducer()
		c.NoErr(t.RegisterProducer(q2, true), "RegisterProducer after UnregisterProducer")
		c.ErrIs(t.RegisterProducer(q3, true), gyre.ErrProducerRegistered, "RegisterProducer over the new producer")
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error { return conn.Close() })
	e.run()
	trLostReason(c, p, gyre.ErrConnectionDone)
	// The producer in place when the connection was lost is the one that
	// hears of it.
	c.Equal(q2.stop, 1, "StopProducing calls to the registered producer")
	c.Equal(q1.stop, 0, "StopProducing calls to the unregistered producer")
	c.Equal(q3.stop, 0, "StopProducing calls to the refused producer")
	c.Equal(len(q3.seq), 0, "calls to the refused producer")
}

// trProducerStop: the registered producer hears StopProducing once, before
// ConnectionLost, however the connection ends.
func trProducerStop(how string) func(*C) {
	return func(c *C) {
		e := trStart(c, trTCP)
		p := e.proto("server", trPlain).stopOnLost()
		trLinger(e, p)
		q := &trProducer{e: e, name: "producer"}
		stopsAtLost := -1
		prev := p.onLost
		p.onLost = func(p *trProto, reason error) {
			stopsAtLost = q.stop
			p.t.UnregisterProducer()
			prev(p, reason)
		}
		q.onStop = func() {
			if p.lost > 0 {
				p.errorf("StopProducing came after ConnectionLost")
			}
		}
		p.onMade = func(p *trProto) {
			c.NoErr(p.t.RegisterProducer(q, true), "RegisterProducer")
			switch how {
			case "abort":
				p.abort()
			case "unregistered":
				p.t.UnregisterProducer()
			}
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			switch how {
			case "reset":
				return trReset(conn)
			case "abort":
				if _, err := trReadAll(conn); err != nil && !trBroken(err) {
					return err
				}
			}
			return conn.Close()
		})
		e.run()
		switch how {
		case "abort":
			trLostReason(c, p, gyre.ErrConnectionAborted)
		case "reset":
			trLostReason(c, p, gyre.ErrConnectionLost)
		default:
			trLostReason(c, p, gyre.ErrConnectionDone)
		}
		if how == "unregistered" {
			c.Equal(q.stop, 0, "StopProducing calls to an unregistered producer")
			return
		}
		c.Equal(q.stop, 1, "StopProducing calls")
		c.Equal(stopsAtLost, 1, "StopProducing calls before ConnectionLost")
	}
}

// trProducerLoseWaitsPull: LoseConnection right after registering a pull
// producer; the producer still writes all its chunks, and the connection
// closes only after UnregisterProducer.
func trProducerLoseWaitsPull(c *C) {
	e := trStart(c, trTCP)
	const chunk = 64 * trKiB
	const chunks = 32
	p := e.proto("server", trPlain).stopOnLost()
	q := &trProducer{e: e, name: "producer"}
	sent := 0
	unregistered := false
	q.onResume = func() {
		if unregistered {
			p.errorf("ResumeProducing after UnregisterProducer")
			return
		}
		c.NoErr(p.write(trData(31, sent*chunk, chunk)), "Write by the producer after LoseConnection")
		sent++
		if sent == chunks {
			unregistered = true
			p.t.UnregisterProducer()
			c.ErrIs(p.write([]byte("late")), gyre.ErrNotConnected, "Write after UnregisterProducer")
		}
	}
	p.onMade = func(p *trProto) {
		c.NoErr(p.t.RegisterProducer(q, false), "RegisterProducer")
		p.lose()
	}
	p.onLost = func(p *trProto, _ error) {
		c.True(unregistered, "the connection closed before UnregisterProducer (%d of %d chunks written)", sent, chunks)
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		return trReadStream(conn, 31, chunks*chunk, true)
	})
	e.run()
	c.Equal(sent, chunks, "chunks written")
	c.Equal(q.stop, 0, "StopProducing calls to a producer unregistered before the close")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

func trProducerLoseWaitsPush(c *C) {
	e := trStart(c, trTCP)
	const chunk = 64 * trKiB
	const chunks = 20
	p := e.proto("server", trPlain).stopOnLost()
	q := &trProducer{e: e, name: "producer"}
	sent := 0
	unregistered := false
	var tick func()
	tick = func() {
		if p.lost > 0 {
			return
		}
		if !q.paused {
			c.NoErr(p.write(trData(32, sent*chunk, chunk)), "Write by the producer after LoseConnection")
			sent++
		}
		if sent < chunks {
			e.later(2*time.Millisecond, tick)
			return
		}
		unregistered = true
		p.t.UnregisterProducer()
	}
	p.onMade = func(p *trProto) {
		c.NoErr(p.t.RegisterProducer(q, true), "RegisterProducer")
		p.lose()
		tick()
	}
	p.onLost = func(p *trProto, _ error) {
		c.True(unregistered, "the connection closed before UnregisterProducer (%d of %d chunks written)", sent, chunks)
	}
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		return trReadStream(conn, 32, chunks*chunk, true)
	})
	e.run()
	c.Equal(sent, chunks, "chunks written")
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// --- TCP options, the loop and failures ---

func trTCPOptions(client bool) func(*C) {
	return func(c *C) {
		e := trStart(c, trTCP)
		p := e.proto("options", trPlain).keepData().stopOnLost()
		p.onMade = func(p *trProto) {
			tt := trTCPTransport(c, p.t)
			if tt == nil {
				p.abort()
				return
			}
			c.NoErr(tt.SetNoDelay(true), "SetNoDelay(true)")
			c.NoErr(tt.SetNoDelay(false), "SetNoDelay(false)")
			c.NoErr(tt.SetKeepAlive(true), "SetKeepAlive(true)")
			c.NoErr(tt.SetKeepAlive(false), "SetKeepAlive(false)")
			c.NoErr(tt.SetNoDelay(true), "SetNoDelay(true) again")
			c.NoErr(tt.SetKeepAlive(true), "SetKeepAlive(true) again")
		}
		p.onData = func(p *trProto, b []byte) {
			p.mustWrite(b)
			if len(p.got) == 4 {
				p.lose()
			}
		}
		peer := func(conn net.Conn) error {
			if _, err := conn.Write([]byte("ping")); err != nil {
				return err
			}
			b, err := trReadAll(conn)
			if err != nil {
				return err
			}
			if string(b) != "ping" {
				return fmt.Errorf("echo: got %q, want %q", b, "ping")
			}
			return nil
		}
		if client {
			addr, accepted := e.rawListen()
			e.connect(addr, p.once())
			e.goAccepted("server", accepted, peer)
		} else {
			addr := e.listen(p.once())
			e.goPeer("client", e.dial(addr, 0), peer)
		}
		e.run()
		c.Equal(string(p.got), "ping", "bytes received")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

// trLoopGoroutine exercises every protocol and producer callback of an
// accepted connection; trProto and trProducer check the goroutine of each.
func trLoopGoroutine(c *C) {
	e := trStart(c, trTCP)
	p := e.proto("server", trHalfClose|trNotifier).setCheck(33).stopOnLost()
	q := &trProducer{e: e, name: "producer"}
	const total = 256 * trKiB
	p.onMade = func(p *trProto) {
		p.pause()
		e.later(5*time.Millisecond, p.resume)
		c.NoErr(p.t.RegisterProducer(q, false), "RegisterProducer")
	}
	sent := 0
	closing := false
	// Shut down the sending side once the producer is done and the peer
	// has finished sending, whichever comes last.
	maybeClose := func() {
		if sent == 4 && p.readLost == 1 && !closing {
			closing = true
			p.loseWrite()
		}
	}
	q.onResume = func() {
		if sent < 4 {
			p.mustWrite(trData(34, sent*trKiB, trKiB))
			sent++
			if sent == 4 {
				p.t.UnregisterProducer()
				maybeClose()
			}
		}
	}
	p.onReadLost = func(p *trProto) { maybeClose() }
	p.onWriteLost = func(p *trProto) { p.lose() }
	addr := e.listen(p.once())
	e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
		if err := trSendStream(conn, 33, total); err != nil {
			return err
		}
		if err := trCloseWrite(conn); err != nil {
			return err
		}
		return trReadStream(conn, 34, 4*trKiB, true)
	})
	e.run()
	c.NoErr(p.check.result(total), "bytes received")
	c.Equal(p.readLost, 1, "ReadConnectionLost calls")
	c.Equal(p.writeLost, 1, "WriteConnectionLost calls")
	c.True(q.resumes >= 4, "the producer was resumed %d times", q.resumes)
	trLostReason(c, p, gyre.ErrConnectionDone)
}

// trLoopGoroutineBothEnds connects the reactor to itself; the client
// factory's callbacks are checked too.
func trLoopGoroutineBothEnds(c *C) {
	e := trStart(c, trTCP)
	const total = 1 * trMiB
	srv := e.proto("server", trPlain).setCheck(35).stopOnLost()
	cli := e.proto("client", trPlain).keepData().stopOnLost()
	srv.onData = func(p *trProto, b []byte) {
		if p.received == total {
			p.mustWrite([]byte("done"))
			p.lose()
		}
	}
	cli.onMade = func(p *trProto) {
		trWriteVaried(p, 35, total)
	}
	addr := e.listen(srv.once())
	e.connect(addr, cli.once())
	e.run()
	c.NoErr(srv.check.result(total), "bytes the server received")
	c.Equal(string(cli.got), "done", "bytes the client received")
	trLostReason(c, srv, gyre.ErrConnectionDone)
	trLostReason(c, cli, gyre.ErrConnectionDone)
}

// Panic values and the functions that raise them, named so that the logged
// stack can be checked for them.
const (
	trPanicData      = "gyre-test: panic in DataReceived"
	trPanicMade      = "gyre-test: panic in ConnectionMade"
	trPanicReadLost  = "gyre-test: panic in ReadConnectionLost"
	trPanicWriteLost = "gyre-test: panic in WriteConnectionLost"
	trPanicLost      = "gyre-test: panic in ConnectionLost"
)

func trPanickingDataReceived()        { panic(trPanicData) }
func trPanickingConnectionMade()      { panic(trPanicMade) }
func trPanickingReadConnectionLost()  { panic(trPanicReadLost) }
func trPanickingWriteConnectionLost() { panic(trPanicWriteLost) }
func trPanickingConnectionLost()      { panic(trPanicLost) }

// trEchoAfter checks that the reactor still serves a new connection: it dials
// addr from a new peer, which expects "ping" echoed.
func trEchoAfter(e *trEnv, addr string) {
	e.goPeer("later client", e.dial(addr, 0), func(conn net.Conn) error {
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		var b [4]byte
		if _, err := conn.Read(b[:]); err != nil || string(b[:]) != "ping" {
			return fmt.Errorf("echo after a panic: got %q, %v", b[:], err)
		}
		return conn.Close()
	})
}

// trPanicCase runs a connection whose protocol panics (set up by arm), then a
// second connection that must echo; it checks the log and the first
// connection's end.
func trPanicCase(c *C, kind trKind, value, fn string, arm func(p *trProto), peer func(conn net.Conn) error, want error) {
	e := trStart(c, trTCP)
	p := e.proto("panicking", kind).stopOnLost()
	echo := e.proto("echo", trPlain).stopOnLost()
	echo.onData = func(p *trProto, b []byte) { p.mustWrite(b) }
	arm(p)
	var addr string
	prev := p.onLost
	p.onLost = func(p *trProto, reason error) {
		trEchoAfter(e, addr)
		if prev != nil {
			prev(p, reason)
		}
	}
	n := 0
	addr = e.listen(func() gyre.Protocol {
		n++
		if n == 1 {
			return p.as()
		}
		return echo.as()
	})
	e.goPeer("client", e.dial(addr, 0), peer)
	e.run()
	failuresCheckPanicLogged(c, value, fn)
	if want != nil {
		trLostReason(c, p, want)
	}
	c.Equal(p.lost, 1, "ConnectionLost calls")
	trLostReason(c, echo, gyre.ErrConnectionDone)
}

// trPeerSeesClose writes to the connection and expects it to be closed by
// the other side (end of file or a reset).
func trPeerSeesClose(conn net.Conn) error {
	if _, err := conn.Write([]byte("x")); err != nil && !trBroken(err) {
		return err
	}
	if _, err := trReadAll(conn); err != nil && !trBroken(err) {
		return fmt.Errorf("waiting for the close: %w", err)
	}
	return nil
}

func trPanicDataReceived(c *C) {
	calls := 0
	trPanicCase(c, trPlain, trPanicData, "trPanickingDataReceived", func(p *trProto) {
		p.onData = func(p *trProto, b []byte) {
			calls++
			trPanickingDataReceived()
		}
	}, func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		// More data after the panic must not reach the protocol.
		time.Sleep(10 * time.Millisecond)
		if _, err := conn.Write([]byte("y")); err != nil && !trBroken(err) {
			return err
		}
		return trPeerSeesClose(conn)
	}, gyre.ErrConnectionAborted)
	c.Equal(calls, 1, "DataReceived calls")
}

func trPanicConnectionMade(c *C) {
	trPanicCase(c, trPlain, trPanicMade, "trPanickingConnectionMade", func(p *trProto) {
		p.onMade = func(p *trProto) { trPanickingConnectionMade() }
		p.onData = func(p *trProto, b []byte) { p.errorf("DataReceived after ConnectionMade panicked") }
	}, trPeerSeesClose, gyre.ErrConnectionAborted)
}

func trPanicReadConnectionLost(c *C) {
	trPanicCase(c, trHalfClose, trPanicReadLost, "trPanickingReadConnectionLost", func(p *trProto) {
		p.onReadLost = func(p *trProto) { trPanickingReadConnectionLost() }
	}, func(conn net.Conn) error {
		if _, err := conn.Write([]byte("x")); err != nil {
			return err
		}
		if err := trCloseWrite(conn); err != nil {
			return err
		}
		if _, err := trReadAll(conn); err != nil && !trBroken(err) {
			return fmt.Errorf("waiting for the close: %w", err)
		}
		return nil
	}, gyre.ErrConnectionAborted)
}

func trPanicWriteConnectionLost(c *C) {
	trPanicCase(c, trNotifier, trPanicWriteLost, "trPanickingWriteConnectionLost", func(p *trProto) {
		p.onMade = func(p *trProto) {
			p.mustWrite([]byte("x"))
			p.loseWrite()
		}
		p.onWriteLost = func(p *trProto) { trPanickingWriteConnectionLost() }
	}, func(conn net.Conn) error {
		// The end of file comes from LoseWriteConnection; the abort then
		// closes the rest, which the peer sees as a failed write or read.
		if _, err := trReadAll(conn); err != nil && !trBroken(err) {
			return err
		}
		for i := 0; i < 100; i++ {
			if _, err := conn.Write([]byte("x")); err != nil {
				if trBroken(err) {
					return nil
				}
				return err
			}
			time.Sleep(time.Millisecond)
		}
		return errors.New("the connection stayed open for writing after WriteConnectionLost panicked")
	}, gyre.ErrConnectionAborted)
}

func trPanicConnectionLost(c *C) {
	trPanicCase(c, trPlain, trPanicLost, "trPanickingConnectionLost", func(p *trProto) {
		p.onLost = func(p *trProto, _ error) { trPanickingConnectionLost() }
	}, func(conn net.Conn) error { return conn.Close() }, nil)
}

// --- Volume ---

// trBulk: both sides write 8 MiB before reading anything.
func trBulk(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const total = 8 * trMiB
		p := e.proto("server", trPlain).setCheck(36).stopOnLost()
		p.onMade = func(p *trProto) {
			for off := 0; off < total; off += trMiB {
				p.mustWrite(trData(37, off, trMiB))
			}
		}
		p.onData = func(p *trProto, b []byte) {
			if p.received == total {
				p.lose()
			}
		}
		addr := e.listen(p.once())
		e.goPeer("client", e.dial(addr, 0), func(conn net.Conn) error {
			werr := make(chan error, 1)
			go func() { werr <- trWriteStream(conn, 36, total, 256*trKiB) }()
			rerr := trReadStream(conn, 37, total, true)
			if err := <-werr; err != nil {
				return err
			}
			return rerr
		})
		e.run()
		c.NoErr(p.check.result(total), "bytes the server received")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}

func trBulkBothEnds(c *C) {
	e := trStart(c, trTCP)
	const total = 8 * trMiB
	srv := e.proto("server", trPlain).setCheck(38).stopOnLost()
	cli := e.proto("client", trPlain).setCheck(39).stopOnLost()
	srv.onMade = func(p *trProto) { p.mustWrite(trData(39, 0, total)) }
	cli.onMade = func(p *trProto) { p.mustWrite(trData(38, 0, total)) }
	srv.onData = func(p *trProto, b []byte) {
		if p.received == total {
			p.lose()
		}
	}
	addr := e.listen(srv.once())
	e.connect(addr, cli.once())
	e.run()
	c.NoErr(srv.check.result(total), "bytes the server received")
	c.NoErr(cli.check.result(total), "bytes the client received")
	trLostReason(c, srv, gyre.ErrConnectionDone)
	trLostReason(c, cli, gyre.ErrConnectionDone)
}

// trEchoProto returns a protocol that echoes everything.
func trEchoProto(e *trEnv, name string) *trProto {
	p := e.proto(name, trPlain).stopOnLost()
	p.onData = func(p *trProto, b []byte) { p.mustWrite(b) }
	return p
}

func trManyRaw(n trNet) func(*C) {
	return func(c *C) {
		e := trStart(c, n)
		const conns = 200
		const size = 32 * trKiB
		var protos []*trProto
		addr := e.listen(func() gyre.Protocol {
			p := trEchoProto(e, fmt.Sprintf("server %d", len(protos)))
			protos = append(protos, p)
			return p.as()
		})
		for i := 0; i < conns; i++ {
			seed := uint64(1000 + i)
			e.goPeer(fmt.Sprintf("client %d", i), e.dial(addr, 0), func(conn net.Conn) error {
				werr := make(chan error, 1)
				go func() { werr <- trWriteStream(conn, seed, size, 4*trKiB) }()
				rerr := trReadStream(conn, seed, size, false)
				if err := <-werr; err != nil {
					return err
				}
				if rerr != nil {
					return rerr
				}
				return conn.Close()
			})
		}
		e.run()
		c.Equal(len(protos), conns, "connections accepted")
		for _, p := range protos {
			trLostReason(c, p, gyre.ErrConnectionDone)
		}
	}
}

func trManyReactorClients(c *C) {
	e := trStart(c, trTCP)
	const conns = 200
	const size = 32 * trKiB
	var servers []*trProto
	addr := e.listen(func() gyre.Protocol {
		p := trEchoProto(e, fmt.Sprintf("server %d", len(servers)))
		servers = append(servers, p)
		return p.as()
	})
	var clients []*trProto
	for i := 0; i < conns; i++ {
		seed := uint64(2000 + i)
		p := e.proto(fmt.Sprintf("client %d", i), trPlain).setCheck(seed).stopOnLost()
		p.onMade = func(p *trProto) { p.mustWrite(trData(seed, 0, size)) }
		p.onData = func(p *trProto, b []byte) {
			if p.received == size {
				p.lose()
			}
		}
		clients = append(clients, p)
		e.connect(addr, p.once())
	}
	e.run()
	c.Equal(len(servers), conns, "connections accepted")
	for _, p := range clients {
		c.NoErr(p.check.result(size), p.name+": echo")
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
	for _, p := range servers {
		trLostReason(c, p, gyre.ErrConnectionDone)
	}
}
