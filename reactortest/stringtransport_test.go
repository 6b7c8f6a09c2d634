package reactortest_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactortest"
)

// echo is a protocol that writes back what it receives and records events.
type echo struct {
	t      gyre.Transport
	events []string
	kept   []byte // a reference to received data, kept against the rules
}

func (e *echo) ConnectionMade(t gyre.Transport) {
	e.t = t
	e.events = append(e.events, "made")
}

func (e *echo) DataReceived(data []byte) {
	e.events = append(e.events, "data:"+string(data))
	e.kept = data
	if err := e.t.Write(data); err != nil {
		e.events = append(e.events, "write:"+err.Error())
	}
}

func (e *echo) ConnectionLost(reason error) {
	e.events = append(e.events, "lost:"+reason.Error())
}

type producer struct{ stopped, resumed, paused int }

func (p *producer) StopProducing()   { p.stopped++ }
func (p *producer) ResumeProducing() { p.resumed++ }
func (p *producer) PauseProducing()  { p.paused++ }

func wantEvents(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestStringTransportWriteValueClear(t *testing.T) {
	var tr reactortest.StringTransport // the zero value works
	if err := tr.Write([]byte("hello ")); err != nil {
		t.Fatal(err)
	}
	buf := []byte("world")
	if err := tr.WriteSequence([][]byte{buf, nil, []byte("!")}); err != nil {
		t.Fatal(err)
	}
	buf[0] = 'W' // the caller may reuse its buffer once Write returns
	if got := string(tr.Value()); got != "hello world!" {
		t.Fatalf("Value = %q", got)
	}
	v := tr.Value()
	v[0] = 'X' // Value is a copy
	if got := string(tr.Value()); got != "hello world!" {
		t.Fatalf("Value after modifying a returned copy = %q", got)
	}
	tr.Clear()
	if got := tr.Value(); len(got) != 0 {
		t.Fatalf("Value after Clear = %q", got)
	}
	if err := tr.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := string(tr.Value()); got != "again" {
		t.Fatalf("Value = %q", got)
	}
}

func TestStringTransportClosing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(*reactortest.StringTransport)
		check func(*reactortest.StringTransport) bool
	}{
		{"LoseConnection", (*reactortest.StringTransport).LoseConnection, (*reactortest.StringTransport).Disconnecting},
		{"AbortConnection", (*reactortest.StringTransport).AbortConnection, (*reactortest.StringTransport).Aborted},
		{"StopProducing", (*reactortest.StringTransport).StopProducing, (*reactortest.StringTransport).Aborted},
		{"LoseWriteConnection", (*reactortest.StringTransport).LoseWriteConnection, (*reactortest.StringTransport).WriteClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := reactortest.NewStringTransport()
			if tr.Disconnecting() || tr.Aborted() || tr.WriteClosed() {
				t.Fatal("a new transport reports a close")
			}
			if err := tr.Write([]byte("before")); err != nil {
				t.Fatal(err)
			}
			tc.close(tr)
			if !tc.check(tr) {
				t.Fatalf("%s not recorded", tc.name)
			}
			if err := tr.Write([]byte("after")); !errors.Is(err, gyre.ErrNotConnected) {
				t.Fatalf("Write after %s = %v, want ErrNotConnected", tc.name, err)
			}
			if err := tr.WriteSequence([][]byte{[]byte("after")}); !errors.Is(err, gyre.ErrNotConnected) {
				t.Fatalf("WriteSequence after %s = %v, want ErrNotConnected", tc.name, err)
			}
			if got := string(tr.Value()); got != "before" {
				t.Fatalf("Value = %q, want only what was written before %s", got, tc.name)
			}
		})
	}
}

func TestStringTransportOnlyRecordsWhatWasCalled(t *testing.T) {
	tr := reactortest.NewStringTransport()
	tr.LoseConnection()
	if tr.Aborted() || tr.WriteClosed() {
		t.Fatal("LoseConnection recorded as another kind of close")
	}
	tr = reactortest.NewStringTransport()
	tr.AbortConnection()
	if tr.Disconnecting() || tr.WriteClosed() {
		t.Fatal("AbortConnection recorded as another kind of close")
	}
}

func TestStringTransportAddresses(t *testing.T) {
	var tr reactortest.StringTransport
	if got := tr.LocalAddr().String(); got != "127.0.0.1:0" {
		t.Fatalf("default LocalAddr = %s", got)
	}
	if got := tr.RemoteAddr().String(); got != "127.0.0.1:12345" {
		t.Fatalf("default RemoteAddr = %s", got)
	}
	if _, ok := tr.RemoteAddr().(*net.TCPAddr); !ok {
		t.Fatalf("RemoteAddr is a %T, want *net.TCPAddr", tr.RemoteAddr())
	}
	tr.Local = &net.TCPAddr{IP: net.IPv6loopback, Port: 80}
	tr.Remote = &net.UnixAddr{Name: "/tmp/sock", Net: "unix"}
	if got := tr.LocalAddr().String(); got != "[::1]:80" {
		t.Fatalf("LocalAddr = %s", got)
	}
	if got := tr.RemoteAddr().String(); got != "/tmp/sock" {
		t.Fatalf("RemoteAddr = %s", got)
	}
}

func TestStringTransportPauseResume(t *testing.T) {
	tr := reactortest.NewStringTransport()
	if tr.Paused() {
		t.Fatal("a new transport is paused")
	}
	tr.PauseProducing()
	if !tr.Paused() {
		t.Fatal("PauseProducing not recorded")
	}
	tr.ResumeProducing()
	if tr.Paused() {
		t.Fatal("ResumeProducing not recorded")
	}
}

func TestStringTransportProducer(t *testing.T) {
	tr := reactortest.NewStringTransport()
	if p, s := tr.Producer(); p != nil || s {
		t.Fatalf("Producer of a new transport = %v, %v", p, s)
	}
	p1, p2 := &producer{}, &producer{}
	if err := tr.RegisterProducer(p1, true); err != nil {
		t.Fatal(err)
	}
	if p, s := tr.Producer(); p != p1 || !s {
		t.Fatalf("Producer = %v, %v; want p1, true", p, s)
	}
	if err := tr.RegisterProducer(p2, false); !errors.Is(err, gyre.ErrProducerRegistered) {
		t.Fatalf("second RegisterProducer = %v, want ErrProducerRegistered", err)
	}
	if p, _ := tr.Producer(); p != p1 {
		t.Fatal("a refused RegisterProducer replaced the producer")
	}
	tr.UnregisterProducer()
	if p, s := tr.Producer(); p != nil || s {
		t.Fatalf("Producer after UnregisterProducer = %v, %v", p, s)
	}
	if err := tr.RegisterProducer(p2, false); err != nil {
		t.Fatal(err)
	}
	if p, s := tr.Producer(); p != p2 || s {
		t.Fatalf("Producer = %v, %v; want p2, false", p, s)
	}
	if p1.stopped+p1.resumed+p1.paused+p2.stopped+p2.resumed+p2.paused != 0 {
		t.Fatal("the transport called a producer on its own")
	}
}

func TestStringTransportSocketOptions(t *testing.T) {
	var tr reactortest.StringTransport
	if tr.NoDelay() || tr.KeepAlive() {
		t.Fatal("options set on a new transport")
	}
	if err := tr.SetNoDelay(true); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetKeepAlive(true); err != nil {
		t.Fatal(err)
	}
	if !tr.NoDelay() || !tr.KeepAlive() {
		t.Fatal("options not recorded")
	}
	_ = tr.SetNoDelay(false)
	if tr.NoDelay() || !tr.KeepAlive() {
		t.Fatal("SetNoDelay(false) not recorded")
	}
}

func TestStringTransportConnect(t *testing.T) {
	p := &echo{}
	tr := reactortest.Connect(p)
	wantEvents(t, p.events, "made")
	if p.t != gyre.Transport(tr) {
		t.Fatal("ConnectionMade did not get the transport")
	}
	if tr.Protocol() != gyre.Protocol(p) {
		t.Fatal("Protocol() is not the connected protocol")
	}
	tr.Receive([]byte("ping"))
	if got := string(tr.Value()); got != "ping" {
		t.Fatalf("Value = %q", got)
	}
	// Receive takes back the memory it lent: a protocol keeping a reference
	// sees it overwritten.
	if bytes.Equal(p.kept, []byte("ping")) {
		t.Fatal("Receive did not overwrite the data after DataReceived")
	}
	tr.Lose(nil)
	tr.Lose(errors.New("again"))     // only once
	tr.Receive([]byte("after lost")) // ignored
	wantEvents(t, p.events, "made", "data:ping", "lost:"+gyre.ErrConnectionDone.Error())
	if !tr.Lost() {
		t.Fatal("Lost() = false after Lose")
	}
	if err := tr.Write([]byte("x")); !errors.Is(err, gyre.ErrNotConnected) {
		t.Fatalf("Write after Lose = %v", err)
	}
}

func TestStringTransportLoseReasons(t *testing.T) {
	p := &echo{}
	tr := reactortest.Connect(p)
	pr := &producer{}
	if err := tr.RegisterProducer(pr, true); err != nil {
		t.Fatal(err)
	}
	tr.AbortConnection()
	tr.Lose(nil)
	wantEvents(t, p.events, "made", "lost:"+gyre.ErrConnectionAborted.Error())
	if pr.stopped != 1 {
		t.Fatalf("producer stopped %d times, want 1", pr.stopped)
	}
	if got, _ := tr.Producer(); got != nil {
		t.Fatal("producer still registered after Lose")
	}

	p = &echo{}
	tr = reactortest.Connect(p)
	boom := errors.New("boom")
	tr.Lose(boom)
	wantEvents(t, p.events, "made", "lost:boom")
}

func TestStringTransportNoProtocol(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Receive without a protocol did not panic")
		}
	}()
	reactortest.NewStringTransport().Receive([]byte("x"))
}

// A protocol under test talks to a StringTransport, and the test reads what
// it wrote.
func ExampleStringTransport() {
	p := &echo{}
	tr := reactortest.Connect(p)
	tr.Receive([]byte("hello"))
	fmt.Printf("%q\n", tr.Value())
	tr.LoseConnection()
	fmt.Println(tr.Disconnecting(), tr.Write([]byte("late")))
	// Output:
	// "hello"
	// true gyre: not connected
}
