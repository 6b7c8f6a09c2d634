//go:build linux

package main

import (
	"net"
	"strings"
	"testing"

	"github.com/gyre-go/gyre/reactor"
)

const chatWelcome = "welcome to gyre chat; what is your name?"

// chatter is one nc connected to the chat server. nc runs without -N: the
// end of its input does not reach the server, so nc exits only once the
// server has closed the connection.
type chatter struct {
	*client
	nick string
}

func joinChat(t *testing.T, nc, addr, nick, hello string) *chatter {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	c := &chatter{client: startClient(t, "nc "+nick, nc, host, port), nick: nick}
	c.expect(t, chatWelcome)
	if nick != "" {
		c.send(t, nick)
		c.expect(t, hello)
	}
	return c
}

// TestChat runs gyre chat on every backend with three, then two, nc
// clients: names, broadcast, /who, /quit, a disconnect, the line length
// limit.
func TestChat(t *testing.T) {
	nc := peerTools[0].find(t)
	for _, backend := range reactor.Backends() {
		t.Run(backend, func(t *testing.T) {
			s := startServer(t, "chat", "-listen", "127.0.0.1:0", "-backend", backend)
			checkBackend(t, s, backend)
			chatSession(t, nc, s)
		})
	}
}

// chatSession plays the scenario against s and stops s at the end.
func chatSession(t *testing.T, nc string, s *gyreServer) {
	alice := joinChat(t, nc, s.addr, "alice", "* hello alice; 1 here")

	// Names: taken, malformed, then accepted; the others hear of it.
	bob := joinChat(t, nc, s.addr, "", "")
	bob.send(t, "alice")
	bob.expect(t, "* that name is taken; try another")
	bob.send(t, "bob smith")
	bob.expect(t, "* a name is one word of at most 32 characters; try again")
	bob.send(t, strings.Repeat("b", 33))
	bob.expect(t, "* a name is one word of at most 32 characters; try again")
	bob.send(t, "bob\r") // a CRLF client
	bob.expect(t, "* hello bob; 2 here")
	alice.expect(t, "* bob has joined")

	carol := joinChat(t, nc, s.addr, "carol", "* hello carol; 3 here")
	alice.expect(t, "* carol has joined")
	bob.expect(t, "* carol has joined")

	// Broadcast: everyone but the sender, in order.
	alice.send(t, "hi all")
	alice.send(t, "second line")
	for _, c := range []*chatter{bob, carol} {
		c.expect(t, "<alice> hi all")
		c.expect(t, "<alice> second line")
	}
	bob.send(t, "hello alice")
	alice.expect(t, "<bob> hello alice")
	carol.expect(t, "<bob> hello alice")

	// /who lists everyone (in no set order) to the asker only.
	bob.send(t, "/who")
	bob.expectAll(t, "* alice", "* bob", "* carol")

	// /quit: a goodbye, the server closes (nc, whose input is still open,
	// exits once its input ends too), the others hear of it.
	carol.send(t, "/quit")
	carol.expect(t, "* bye")
	alice.expect(t, "* carol has left")
	bob.expect(t, "* carol has left")
	carol.closeInput(t)
	if err := carol.waitExit(t, exitTimeout, "/quit: the server did not close the connection"); err != nil {
		t.Errorf("nc carol exited with %v after /quit, want status 0", err)
	}

	// A client that disconnects (nc killed: its socket closes) has left.
	if err := bob.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	bob.waitExit(t, exitTimeout, "SIGKILL")
	alice.expect(t, "* bob has left")

	// Both are gone from the room: the next user is the second here.
	dave := joinChat(t, nc, s.addr, "dave", "* hello dave; 2 here")
	alice.expect(t, "* dave has joined")
	alice.send(t, "/who")
	alice.expectAll(t, "* alice", "* dave")

	// The line length limit: 1024 bytes pass, 1025 do not.
	long := strings.Repeat("x", 1024-len("ok "))
	dave.send(t, "ok "+long)
	alice.expect(t, "<dave> ok "+long)
	dave.send(t, strings.Repeat("y", 1100))
	dave.expect(t, "* line too long; goodbye")
	alice.expect(t, "* dave has left")
	dave.closeInput(t)
	if err := dave.waitExit(t, exitTimeout, "a line too long: the server did not close the connection"); err != nil {
		t.Errorf("nc dave exited with %v after the long line, want status 0", err)
	}

	// Nobody hears their own lines, and nothing after the long line went
	// out.
	for _, c := range []*chatter{alice, bob, carol, dave} {
		for _, line := range c.stdout.lines() {
			if strings.HasPrefix(line, "<"+c.nick+">") {
				t.Errorf("%s received their own line %q", c.nick, abbrev(line))
			}
			if strings.Contains(line, "yyyy") {
				t.Errorf("%s received part of the long line: %q", c.nick, abbrev(line))
			}
		}
	}
	if got := alice.stdout.lines(); len(got) > alice.seen {
		t.Errorf("alice received unexpected lines: %q", abbrevAll(got[alice.seen:]))
	}

	// Alice is still connected when the server stops: shutdown closes her
	// connection, and her nc exits once its input ends.
	s.stop(t)
	alice.closeInput(t)
	if err := alice.waitExit(t, exitTimeout, "the server stopped: it did not close the connection"); err != nil {
		t.Errorf("nc alice exited with %v after the server stopped, want status 0", err)
	}
}
