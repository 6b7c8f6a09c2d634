package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gyre-go/gyre"
)

// Cases for the "Standard I/O" rules of docs/SPEC.md.
//
// The cases never touch the test process's own standard input and output:
// they hand ConnectStdio pipes, files, /dev/null and a pseudo-terminal, and
// drive the other ends from goroutines of their own ("peers"), which report
// to the loop only through CallFromThread and end before the case does.

func init() {
	n := NeedStdio
	register(
		Case{ID: "stdio.connect", Facet: FacetStdio, Needs: n, Test: stdConnect},
		Case{ID: "stdio.connect#default-files", Facet: FacetStdio, Needs: n, Test: stdConnectDefault},
		Case{ID: "stdio.file#in", Facet: FacetStdio, Needs: n, Test: stdFileIn},
		Case{ID: "stdio.file#out", Facet: FacetStdio, Needs: n, Test: stdFileOut},
		Case{ID: "stdio.file#devnull", Facet: FacetStdio, Needs: n, Test: stdDevNull},
		Case{ID: "stdio.terminal", Facet: FacetStdio, Needs: n, Test: stdTerminal},
		Case{ID: "stdio.eof.half", Facet: FacetStdio, Needs: n, Test: stdEOFHalf},
		Case{ID: "stdio.eof.close", Facet: FacetStdio, Needs: n, Test: stdEOFClose},
		Case{ID: "stdio.write.broken", Facet: FacetStdio, Needs: n, Test: stdWriteBroken},
		Case{ID: "stdio.lose.flush", Facet: FacetStdio, Needs: n, Test: stdLoseFlush},
		Case{ID: "stdio.lose.write", Facet: FacetStdio, Needs: n, Test: stdLoseWrite},
		Case{ID: "stdio.own-files", Facet: FacetStdio, Needs: n, Test: stdOwnFiles},
		Case{ID: "stdio.pause", Facet: FacetStdio, Needs: n | NeedClock, Test: stdPause},
		Case{ID: "stdio.errors", Facet: FacetStdio, Needs: n, Test: stdErrors},
		Case{ID: "stdio.shutdown", Facet: FacetStdio, Needs: n, Test: stdShutdown},
	)
}

// stdPeerDeadline bounds every read of a peer.
const stdPeerDeadline = 10 * time.Second

// stdEnv is the state of one standard I/O case.
type stdEnv struct {
	c      *C
	loopID uint64

	mu    sync.Mutex
	files []*os.File
	errs  []error
	peers sync.WaitGroup
}

func stdStart(c *C) *stdEnv {
	return &stdEnv{c: c, loopID: trGoID()}
}

// end waits for the peers, closes every file the case opened and reports
// what the peers found.
func (e *stdEnv) end() {
	e.c.Helper()
	done := make(chan struct{})
	go func() {
		e.peers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * stdPeerDeadline):
		e.c.Errorf("a peer did not finish")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, f := range e.files {
		f.Close()
	}
	e.files = nil
	for _, err := range e.errs {
		e.c.Errorf("peer: %v", err)
	}
}

// track closes f when the case ends.
func (e *stdEnv) track(f *os.File) *os.File {
	e.mu.Lock()
	e.files = append(e.files, f)
	e.mu.Unlock()
	return f
}

// pipe returns a pipe that the case closes when it ends.
func (e *stdEnv) pipe() (r, w *os.File) {
	e.c.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		e.c.Fatalf("pipe: %v", err)
	}
	return e.track(r), e.track(w)
}

// peer runs f on a goroutine of its own; its error fails the case.
func (e *stdEnv) peer(name string, f func() error) {
	e.peers.Add(1)
	go func() {
		defer e.peers.Done()
		if err := f(); err != nil {
			e.mu.Lock()
			e.errs = append(e.errs, fmt.Errorf("%s: %w", name, err))
			e.mu.Unlock()
		}
	}()
}

// toLoop runs f on the loop.
func (e *stdEnv) toLoop(f func()) { _ = e.c.Threads.CallFromThread(f) }

// connect calls ConnectStdio and fails the case if it fails (or skips it
// where the backend cannot connect standard I/O).
func (e *stdEnv) connect(p gyre.Protocol, in, out *os.File) gyre.Transport {
	e.c.Helper()
	t, err := e.c.Stdio.ConnectStdio(p, in, out)
	if errors.Is(err, gyre.ErrNotSupported) {
		e.c.Skipf("backend %s: %v", e.c.Backend, err)
	}
	if err != nil {
		e.c.Fatalf("ConnectStdio: %v", err)
	}
	return t
}

// stdRead reads exactly n bytes from f.
func stdRead(f *os.File, n int) ([]byte, error) {
	f.SetReadDeadline(time.Now().Add(stdPeerDeadline))
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if err != nil {
		return b[:k], fmt.Errorf("read %d of %d bytes: %w", k, n, err)
	}
	return b, nil
}

// stdReadAll reads f until end of file.
func stdReadAll(f *os.File) ([]byte, error) {
	f.SetReadDeadline(time.Now().Add(stdPeerDeadline))
	return io.ReadAll(f)
}

// stdProto records what a standard I/O transport's protocol hears, and
// checks on every call what holds for every connection: on the loop,
// nothing after ConnectionLost, no data after end of file or while paused.
type stdProto struct {
	e        *stdEnv
	t        gyre.Transport
	made     bool
	data     []byte
	paused   bool
	readLost int
	wrLost   int
	lost     int
	reason   error

	onMade     func(p *stdProto)
	onData     func(p *stdProto, b []byte)
	onReadLost func(p *stdProto)
	onWrLost   func(p *stdProto)
	onLost     func(p *stdProto, reason error)
}

// stdHalf is a stdProto that can half-close.
type stdHalf struct{ *stdProto }

func (h stdHalf) ReadConnectionLost() {
	p := h.stdProto
	p.check("ReadConnectionLost")
	p.readLost++
	if p.readLost > 1 {
		p.e.c.Errorf("ReadConnectionLost called %d times", p.readLost)
	}
	if p.onReadLost != nil {
		p.onReadLost(p)
	}
}

func (p *stdProto) check(method string) {
	if id := trGoID(); id != p.e.loopID {
		p.e.c.Errorf("%s ran on goroutine %d, not on the loop goroutine %d", method, id, p.e.loopID)
	}
	if p.lost > 0 {
		p.e.c.Errorf("%s called after ConnectionLost", method)
	}
}

func (p *stdProto) ConnectionMade(t gyre.Transport) {
	p.check("ConnectionMade")
	if p.made {
		p.e.c.Errorf("ConnectionMade called twice")
	}
	p.made, p.t = true, t
	if p.onMade != nil {
		p.onMade(p)
	}
}

func (p *stdProto) DataReceived(b []byte) {
	p.check("DataReceived")
	if p.readLost > 0 {
		p.e.c.Errorf("DataReceived after ReadConnectionLost")
	}
	if p.paused {
		p.e.c.Errorf("DataReceived while reading was paused")
	}
	p.data = append(p.data, b...)
	if p.onData != nil {
		p.onData(p, b)
	}
}

func (p *stdProto) WriteConnectionLost() {
	p.check("WriteConnectionLost")
	p.wrLost++
	if p.onWrLost != nil {
		p.onWrLost(p)
	}
}

func (p *stdProto) ConnectionLost(reason error) {
	p.check("ConnectionLost")
	p.lost++
	p.reason = reason
	if reason == nil {
		p.e.c.Errorf("ConnectionLost with a nil reason")
	}
	if p.onLost != nil {
		p.onLost(p, reason)
	}
}

func (p *stdProto) write(b []byte) {
	if err := p.t.Write(b); err != nil {
		p.e.c.Errorf("Write: %v", err)
	}
}

func (p *stdProto) pause()  { p.paused = true; p.t.PauseProducing() }
func (p *stdProto) resume() { p.paused = false; p.t.ResumeProducing() }

// stopOnLost stops the reactor when the connection is lost, after f.
func (p *stdProto) stopOnLost(f func(p *stdProto, reason error)) {
	p.onLost = func(p *stdProto, reason error) {
		if f != nil {
			f(p, reason)
		}
		p.e.c.NoErr(p.e.c.R.Stop(), "Stop")
	}
}

// lostWith fails the case unless ConnectionLost came once with want.
func (p *stdProto) lostWith(want error) {
	p.e.c.Helper()
	p.e.c.Equal(p.lost, 1, "ConnectionLost calls")
	if p.lost > 0 && !errors.Is(p.reason, want) {
		p.e.c.Errorf("ConnectionLost(%v), want %v", p.reason, want)
	}
}

// stdEcho is the exchange most cases share: the peer writes ping into in,
// the protocol answers pong on out and closes.
func stdEcho(c *C, e *stdEnv, connect func(p gyre.Protocol) gyre.Transport, inW, outR *os.File) *stdProto {
	c.Helper()
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		c.Equal(p.t.LocalAddr(), gyre.StdioAddr{}, "LocalAddr")
		c.Equal(p.t.RemoteAddr(), gyre.StdioAddr{}, "RemoteAddr")
		c.Equal(p.t.RemoteAddr().Network(), "stdio", "RemoteAddr().Network()")
		p.write([]byte("hello "))
	}
	p.onData = func(p *stdProto, b []byte) {
		if string(p.data) == "ping" {
			p.write([]byte("pong"))
			p.t.LoseConnection()
		}
	}
	p.stopOnLost(nil)
	var got []byte
	e.peer("out reader", func() error {
		b, err := stdRead(outR, len("hello pong"))
		got = b
		return err
	})
	e.peer("in writer", func() error {
		_, err := inW.Write([]byte("ping"))
		return err
	})
	thrWhenRunning(c, func() {
		connect(p)
		c.True(p.made, "ConnectStdio returned before ConnectionMade")
	})
	c.NoErr(c.Run(), "Run")
	e.end()
	c.Equal(string(got), "hello pong", "what the reader of out got")
	c.Equal(string(p.data), "ping", "what the protocol received")
	p.lostWith(gyre.ErrConnectionDone)
	return p
}

// stdConnect: pipes as in and out.
func stdConnect(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	outR, outW := e.pipe()
	stdEcho(c, e, func(p gyre.Protocol) gyre.Transport { return e.connect(p, inR, outW) }, inW, outR)
}

// stdConnectDefault: nil in and out are os.Stdin and os.Stdout, as they are
// when ConnectStdio is called.
func stdConnectDefault(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	outR, outW := e.pipe()
	stdEcho(c, e, func(p gyre.Protocol) gyre.Transport {
		stdin, stdout := os.Stdin, os.Stdout
		os.Stdin, os.Stdout = inR, outW
		defer func() { os.Stdin, os.Stdout = stdin, stdout }()
		return e.connect(p, nil, nil)
	}, inW, outR)
}

// stdTempFile creates a file in a fresh directory, which the case removes.
func stdTempFile(c *C, data []byte) string {
	c.Helper()
	dir, err := os.MkdirTemp("", "gyre-stdio")
	if err != nil {
		c.Fatalf("temporary directory: %v", err)
	}
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		os.RemoveAll(dir)
		c.Fatalf("writing %s: %v", name, err)
	}
	return name
}

// stdFileIn: a regular file as in is read from its current offset to the
// end, then end of file closes the connection as usual.
func stdFileIn(c *C) {
	e := stdStart(c)
	const size, skip = 300 << 10, 1000
	data := trData(31, 0, size)
	name := stdTempFile(c, data)
	defer os.RemoveAll(filepath.Dir(name))
	f, err := os.Open(name)
	if err != nil {
		c.Fatalf("open: %v", err)
	}
	e.track(f)
	if _, err := f.Seek(skip, io.SeekStart); err != nil {
		c.Fatalf("seek: %v", err)
	}
	_, outW := e.pipe()
	p := &stdProto{e: e}
	p.stopOnLost(nil)
	thrWhenRunning(c, func() { e.connect(p, f, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.True(bytes.Equal(p.data, data[skip:]), "the protocol received %d bytes, not the %d from the file's offset on (or other bytes)", len(p.data), size-skip)
	p.lostWith(gyre.ErrConnectionDone)
}

// stdFileOut: a regular file as out gets every byte written, in order, and
// LoseConnection completes.
func stdFileOut(c *C) {
	e := stdStart(c)
	name := stdTempFile(c, nil)
	defer os.RemoveAll(filepath.Dir(name))
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		c.Fatalf("open: %v", err)
	}
	e.track(f)
	inR, _ := e.pipe()
	const size = 300 << 10
	data := trData(32, 0, size)
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		for off := 0; off < size; off += 10 << 10 {
			p.write(data[off : off+10<<10])
		}
		p.t.LoseConnection()
	}
	p.stopOnLost(nil)
	thrWhenRunning(c, func() { e.connect(p, inR, f) })
	c.NoErr(c.Run(), "Run")
	e.end()
	got, err := os.ReadFile(name)
	c.NoErr(err, "reading the file back")
	c.True(bytes.Equal(got, data), "the file holds %d bytes, not the %d written (or other bytes)", len(got), size)
	p.lostWith(gyre.ErrConnectionDone)
}

// stdDevNull: /dev/null as in gives end of file at once; as out it takes
// everything.
func stdDevNull(c *C) {
	e := stdStart(c)
	in, err := os.Open(os.DevNull)
	if err != nil {
		c.Fatalf("open %s: %v", os.DevNull, err)
	}
	e.track(in)
	out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		c.Fatalf("open %s: %v", os.DevNull, err)
	}
	e.track(out)
	p := &stdProto{e: e}
	p.onReadLost = func(p *stdProto) {
		big := trData(33, 0, 1<<20)
		p.write(big)
		p.write(big)
		p.t.LoseConnection()
	}
	p.stopOnLost(nil)
	thrWhenRunning(c, func() { e.connect(stdHalf{p}, in, out) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.Equal(len(p.data), 0, "bytes read from "+os.DevNull)
	c.Equal(p.readLost, 1, "ReadConnectionLost calls")
	p.lostWith(gyre.ErrConnectionDone)
}

// stdTerminal: a terminal as both in and out (one open file description,
// as a shell hands it over); its blocking mode is as before once the
// transport has closed.
func stdTerminal(c *C) {
	master, slave, err := stdioPTY()
	if err != nil {
		c.Skipf("no pseudo-terminal: %v", err)
	}
	e := stdStart(c)
	e.track(master)
	e.track(slave)
	nbBefore, known := stdioNonblock(slave)
	var nbDuring bool
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) { nbDuring, _ = stdioNonblock(slave) }
	p.onData = func(p *stdProto, b []byte) {
		if string(p.data) == "typed" {
			p.write([]byte("shown"))
			p.t.LoseConnection()
		}
	}
	p.stopOnLost(nil)
	var screen []byte
	e.peer("terminal", func() error {
		if _, err := master.Write([]byte("typed")); err != nil {
			return err
		}
		b, err := stdRead(master, len("shown"))
		screen = b
		return err
	})
	thrWhenRunning(c, func() { e.connect(p, slave, slave) })
	c.NoErr(c.Run(), "Run")
	nbAfter, _ := stdioNonblock(slave)
	e.end()
	c.Equal(string(p.data), "typed", "what the protocol read from the terminal")
	c.Equal(string(screen), "shown", "what the terminal showed")
	p.lostWith(gyre.ErrConnectionDone)
	if known {
		c.True(!nbBefore, "the terminal was non-blocking before the case")
		c.True(nbDuring, "the terminal was not made non-blocking while the transport used it")
		c.Equal(nbAfter, nbBefore, "the terminal's O_NONBLOCK after the transport closed")
	}
}

// stdEOFHalf: end of file on in tells a HalfCloseableProtocol, which can
// still write; LoseConnection then closes.
func stdEOFHalf(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	outR, outW := e.pipe()
	p := &stdProto{e: e}
	p.onReadLost = func(p *stdProto) {
		c.Equal(string(p.data), "last words", "data before ReadConnectionLost")
		p.write([]byte("still writing"))
		p.t.LoseConnection()
	}
	p.stopOnLost(nil)
	var got []byte
	e.peer("in writer", func() error {
		if _, err := inW.Write([]byte("last words")); err != nil {
			return err
		}
		return inW.Close()
	})
	e.peer("out reader", func() error {
		b, err := stdRead(outR, len("still writing"))
		got = b
		return err
	})
	thrWhenRunning(c, func() { e.connect(stdHalf{p}, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.Equal(p.readLost, 1, "ReadConnectionLost calls")
	c.Equal(string(got), "still writing", "what the reader of out got after the end of file")
	p.lostWith(gyre.ErrConnectionDone)
}

// stdEOFClose: end of file on in closes a protocol that cannot half-close,
// with ErrConnectionDone, after sending what was buffered.
func stdEOFClose(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	outR, outW := e.pipe()
	const size = 512 << 10 // more than a pipe holds
	data := trData(34, 0, size)
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		p.write(data)
		e.toLoop(func() { inW.Close() }) // end of file while the rest waits
	}
	var got []byte
	p.stopOnLost(func(p *stdProto, _ error) {
		outW.Close() // the case's own copy: now the reader sees end of file
	})
	e.peer("out reader", func() error {
		b, err := stdReadAll(outR)
		got = b
		return err
	})
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.True(bytes.Equal(got, data), "the reader of out got %d bytes of %d (or other bytes)", len(got), size)
	p.lostWith(gyre.ErrConnectionDone)
}

// stdWriteBroken: writing to out once its reader has gone loses the
// connection with ErrConnectionLost (wrapping EPIPE), and the program lives
// on (no SIGPIPE ends it).
func stdWriteBroken(c *C) {
	e := stdStart(c)
	inR, _ := e.pipe()
	outR, outW := e.pipe()
	outR.Close()
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) { p.write([]byte("nobody reads this")) }
	p.stopOnLost(nil)
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	p.lostWith(gyre.ErrConnectionLost)
	if p.reason != nil && stdioEPIPE != nil && !errors.Is(p.reason, stdioEPIPE) {
		c.Errorf("the reason %v does not wrap EPIPE", p.reason)
	}
}

// stdLoseFlush: LoseConnection sends everything buffered before it closes.
func stdLoseFlush(c *C) {
	e := stdStart(c)
	inR, _ := e.pipe()
	outR, outW := e.pipe()
	const size = 1 << 20
	data := trData(35, 0, size)
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		for off := 0; off < size; off += 16 << 10 {
			p.write(data[off : off+16<<10])
		}
		p.t.LoseConnection()
		if err := p.t.Write([]byte("late")); !errors.Is(err, gyre.ErrNotConnected) {
			c.Errorf("Write after LoseConnection: %v, want ErrNotConnected", err)
		}
	}
	p.stopOnLost(func(*stdProto, error) { outW.Close() })
	var got []byte
	e.peer("out reader", func() error {
		b, err := stdReadAll(outR)
		got = b
		return err
	})
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.True(bytes.Equal(got, data), "the reader of out got %d bytes of %d (or other bytes)", len(got), size)
	p.lostWith(gyre.ErrConnectionDone)
}

// stdLoseWrite: LoseWriteConnection sends what is buffered, then closes the
// transport's duplicate of out (the reader sees end of file once the caller
// has closed its own too); reading goes on.
func stdLoseWrite(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	outR, outW := e.pipe()
	const size = 256 << 10
	data := trData(36, 0, size)
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		outW.Close() // the transport's duplicate is now the only writer
		p.write(data)
		p.t.LoseWriteConnection()
	}
	p.onWrLost = func(p *stdProto) {
		if err := p.t.Write([]byte("x")); !errors.Is(err, gyre.ErrNotConnected) {
			c.Errorf("Write after WriteConnectionLost: %v, want ErrNotConnected", err)
		}
	}
	p.onData = func(p *stdProto, b []byte) {
		if string(p.data) == "more" {
			p.t.LoseConnection()
		}
	}
	p.stopOnLost(nil)
	var got []byte
	e.peer("out reader", func() error {
		b, err := stdReadAll(outR)
		got = b
		if err != nil {
			return err
		}
		_, err = inW.Write([]byte("more")) // after the end of file on out
		return err
	})
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.True(bytes.Equal(got, data), "the reader of out got %d bytes of %d before end of file (or other bytes)", len(got), size)
	c.Equal(p.wrLost, 1, "WriteConnectionLost calls")
	c.Equal(string(p.data), "more", "what the protocol read after LoseWriteConnection")
	p.lostWith(gyre.ErrConnectionDone)
}

// stdOwnFiles: the transport works on duplicates: closing it leaves the
// caller's in and out open and usable, and blocking as they were (the
// transport makes pipes non-blocking while it uses them).
func stdOwnFiles(c *C) {
	e := stdStart(c)
	inR, inW, err := stdioBlockingPipe()
	if err != nil {
		c.Fatalf("pipe: %v", err)
	}
	outR, outW, err := stdioBlockingPipe()
	if err != nil {
		c.Fatalf("pipe: %v", err)
	}
	for _, f := range []*os.File{inR, inW, outR, outW} {
		e.track(f)
	}
	before, known := stdioNonblock(inR)
	outBefore, _ := stdioNonblock(outW)
	var during, outDuring bool
	p := &stdProto{e: e}
	p.onMade = func(p *stdProto) {
		during, _ = stdioNonblock(inR)
		outDuring, _ = stdioNonblock(outW)
		p.t.LoseConnection()
	}
	p.stopOnLost(nil)
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	p.lostWith(gyre.ErrConnectionDone)
	if known {
		after, _ := stdioNonblock(inR)
		outAfter, _ := stdioNonblock(outW)
		c.True(!before && !outBefore, "the pipes were non-blocking before the case")
		c.True(during && outDuring, "the pipes were not made non-blocking while the transport used them")
		c.True(after == before && outAfter == outBefore, "O_NONBLOCK of in and out after the transport closed: %v and %v, want %v and %v", after, outAfter, before, outBefore)
	}
	// The caller's files still work, both ways.
	for _, pair := range [][2]*os.File{{inW, inR}, {outW, outR}} {
		if _, err := pair[0].Write([]byte("still open")); err != nil {
			c.Errorf("writing the caller's file after the transport closed: %v", err)
			continue
		}
		b := make([]byte, len("still open"))
		if _, err := io.ReadFull(pair[1], b); err != nil || string(b) != "still open" {
			c.Errorf("reading the caller's file after the transport closed: %q, %v", b, err)
		}
	}
	e.end()
}

// stdPause: PauseProducing holds reading back; what arrives meanwhile is
// delivered after ResumeProducing, nothing lost.
func stdPause(c *C) {
	e := stdStart(c)
	inR, inW := e.pipe()
	_, outW := e.pipe()
	p := &stdProto{e: e}
	ready := make(chan struct{})
	p.onMade = func(p *stdProto) {
		p.pause()
		close(ready)
	}
	p.onData = func(p *stdProto, b []byte) {
		if string(p.data) == "first second" {
			p.t.LoseConnection()
		}
	}
	p.stopOnLost(nil)
	e.peer("in writer", func() error {
		select {
		case <-ready:
		case <-time.After(stdPeerDeadline):
			return errors.New("the transport never paused")
		}
		if _, err := inW.Write([]byte("first ")); err != nil {
			return err
		}
		e.toLoop(func() {
			// Give the data time to arrive; it must not be delivered.
			c.Later(50*time.Millisecond, func() {
				c.Equal(len(p.data), 0, "bytes delivered while paused")
				p.resume()
				p.pause() // and at once again: still nothing
				p.resume()
			})
		})
		_, err := inW.Write([]byte("second"))
		return err
	})
	thrWhenRunning(c, func() { e.connect(p, inR, outW) })
	c.NoErr(c.Run(), "Run")
	e.end()
	c.Equal(string(p.data), "first second", "data received")
	p.lostWith(gyre.ErrConnectionDone)
}

// stdErrors: a nil protocol and a closed file are refused, and nothing is
// left open.
func stdErrors(c *C) {
	e := stdStart(c)
	inR, _ := e.pipe()
	_, outW := e.pipe()
	t, err := c.Stdio.ConnectStdio(nil, inR, outW)
	c.True(err != nil && t == nil, "ConnectStdio(nil protocol) = %v, %v; want an error", t, err)
	closed, _ := e.pipe()
	closed.Close()
	p := &stdProto{e: e}
	t, err = c.Stdio.ConnectStdio(p, closed, outW)
	c.ErrIs(err, os.ErrClosed, "ConnectStdio with a closed in")
	c.True(t == nil && !p.made, "ConnectStdio with a closed in made a connection")
	t, err = c.Stdio.ConnectStdio(p, inR, closed)
	c.ErrIs(err, os.ErrClosed, "ConnectStdio with a closed out")
	c.True(t == nil && !p.made, "ConnectStdio with a closed out made a connection")
	e.end()
}

// stdShutdown: the reactor's shutdown closes the transport with
// ErrConnectionDone; afterwards ConnectStdio returns ErrStopped.
func stdShutdown(c *C) {
	e := stdStart(c)
	inR, _ := e.pipe()
	_, outW := e.pipe()
	p := &stdProto{e: e}
	var lostInShutdown bool
	p.onLost = func(p *stdProto, _ error) { lostInShutdown = !c.R.Running() }
	thrWhenRunning(c, func() {
		e.connect(p, inR, outW)
		c.NoErr(c.R.Stop(), "Stop")
	})
	c.NoErr(c.Run(), "Run")
	p.lostWith(gyre.ErrConnectionDone)
	c.True(lostInShutdown, "ConnectionLost came before the shutdown")
	q := &stdProto{e: e}
	t, err := c.Stdio.ConnectStdio(q, inR, outW)
	c.ErrIs(err, gyre.ErrStopped, "ConnectStdio after the reactor stopped")
	c.True(t == nil && !q.made, "ConnectStdio after the reactor stopped made a connection")
	e.end()
}
