// Command tuichat is a terminal chat client for `gyre chat`, built with the
// Bubble Tea TUI framework. Bubble Tea's event loop owns the terminal and the
// main goroutine; gyre runs inside it through package interleave, so the
// connection's callbacks and the UI's key handlers run on the same goroutine
// and share the client's state without a lock.
//
//	go run ./cmd/gyre chat -listen 127.0.0.1:7002 &
//	cd examples/tuichat && go run . -connect 127.0.0.1:7002 -name alice
//
// Enter sends a line. Ctrl+C leaves the gyre way round: it stops the reactor,
// whose shutdown closes the connection, and an After "shutdown" trigger then
// ends the UI. Ctrl+D ends the UI first; interleave's Finish then runs gyre's
// shutdown after the UI has returned. Either way the program prints
// "tuichat: gyre stopped cleanly" on standard error once gyre has fully
// stopped.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/interleave"
	"github.com/gyre-go/gyre/protocols/basic"
	"github.com/gyre-go/gyre/reactor"
)

func main() {
	addr := flag.String("connect", "127.0.0.1:7002", "address of the gyre chat server")
	name := flag.String("name", "", "your name in the chat (sent as the first line)")
	backend := flag.String("backend", "", "gyre backend (default: the platform's)")
	flag.Parse()
	if err := run(*addr, *name, *backend); err != nil {
		fmt.Fprintln(os.Stderr, "tuichat:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "tuichat: gyre stopped cleanly")
}

func run(addr, name, backend string) error {
	r, err := reactor.NewBackend(backend)
	if err != nil {
		return err
	}
	c := newClient(r, addr, name)
	if err := c.connect(); err != nil {
		return err
	}

	p := tea.NewProgram(model{c})
	// The waker: each gyre turn travels as a message to Update, which runs
	// it on Bubble Tea's goroutine. Send blocks until the program runs, so
	// starting gyre before p.Run is fine.
	il, err := interleave.Start(r, func(turn func()) { p.Send(turnMsg(turn)) })
	if err != nil {
		return err
	}
	_, uiErr := p.Run()

	// The UI has returned. If gyre stopped first this returns at once;
	// otherwise it runs gyre's shutdown here.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := il.Finish(ctx); err != nil {
		return fmt.Errorf("stopping gyre: %w", err)
	}
	return uiErr
}

// turnMsg carries one gyre turn to Update.
type turnMsg func()

// client is the state the UI and the connection share. Both touch it only
// on Bubble Tea's goroutine.
type client struct {
	r     gyre.Reactor
	addr  string
	name  string
	proto *basic.LineReceiver
	conn  gyre.Transport // nil when not connected
	lines []string       // what the chat has said
	input []rune
	done  bool // gyre has stopped: end the UI
	width int
	rows  int
}

func newClient(r gyre.Reactor, addr, name string) *client {
	return &client{r: r, addr: addr, name: name, rows: 24, width: 80}
}

// connect starts the connection and registers the trigger that ends the UI
// once gyre has shut down. It runs before gyre starts.
func (c *client) connect() error {
	p := &basic.LineReceiver{Delimiter: []byte("\n"), MaxLength: 4096}
	p.Connected = func(t gyre.Transport) {
		c.conn = t
		if c.name != "" {
			_ = p.SendLine([]byte(c.name))
		}
	}
	p.Line = func(line []byte) { c.say(strings.TrimRight(string(line), "\r")) }
	p.Lost = func(reason error) {
		c.conn = nil
		c.say("* disconnected: " + reason.Error())
	}
	c.proto = p
	tcp, ok := c.r.(gyre.TCP)
	if !ok {
		return fmt.Errorf("backend has no TCP")
	}
	_, err := tcp.ConnectTCP(c.addr, &gyre.ClientCallbacks{
		Build:  func(net.Addr) gyre.Protocol { return p },
		Failed: func(_ gyre.Connector, reason error) { c.say("* cannot connect: " + reason.Error()) },
	})
	if err != nil {
		return err
	}
	_, err = c.r.AddSystemEventTrigger(gyre.After, gyre.Shutdown, func() *deferred.Deferred {
		c.done = true
		return nil
	})
	return err
}

func (c *client) say(line string) {
	c.lines = append(c.lines, line)
	if len(c.lines) > 500 {
		c.lines = c.lines[len(c.lines)-500:]
	}
}

// send sends the input line to the server.
func (c *client) send() {
	text := strings.TrimSpace(string(c.input))
	c.input = c.input[:0]
	if text == "" {
		return
	}
	if c.conn == nil {
		c.say("* not connected")
		return
	}
	if err := c.proto.SendLine([]byte(text)); err != nil {
		c.say("* " + err.Error())
		return
	}
	if c.name != "" && !strings.HasPrefix(text, "/") {
		c.say("<" + c.name + "> " + text)
	}
}

// model is the Bubble Tea model; the state lives in *client, so that gyre's
// callbacks and Update see the same values.
type model struct{ c *client }

func (m model) Init() tea.Cmd { return nil }

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	c := m.c
	switch msg := msg.(type) {
	case turnMsg:
		msg() // gyre's callbacks run here, on this goroutine
	case tea.WindowSizeMsg:
		c.width, c.rows = msg.Width, msg.Height
	case tea.KeyMsg:
		switch msg.Type {
		case tea.KeyCtrlC:
			c.say("* leaving (stopping gyre first)")
			_ = c.r.Stop() // the shutdown ends the UI when it is done
		case tea.KeyCtrlD:
			return m, tea.Quit // the UI first; Finish stops gyre
		case tea.KeyEnter:
			c.send()
		case tea.KeyBackspace:
			if len(c.input) > 0 {
				c.input = c.input[:len(c.input)-1]
			}
		case tea.KeySpace:
			c.input = append(c.input, ' ')
		case tea.KeyRunes:
			c.input = append(c.input, msg.Runes...)
		}
	}
	if c.done {
		return m, tea.Quit
	}
	return m, nil
}

func (m model) View() string {
	c := m.c
	var b strings.Builder
	status := "connecting to " + c.addr
	if c.conn != nil {
		status = "connected to " + c.addr
	}
	fmt.Fprintf(&b, "gyre chat: %s\n", status)
	room := max(c.rows-4, 1)
	lines := c.lines
	if len(lines) > room {
		lines = lines[len(lines)-room:]
	}
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for i := len(lines); i < room; i++ {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "> %s\n", string(c.input))
	b.WriteString("enter: send · ctrl+c: leave (gyre stops first) · ctrl+d: close the UI first")
	return b.String()
}
