package main

import (
	"bytes"
	"fmt"
	"net"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/protocols/basic"
)

func init() {
	commands = append(commands, command{
		name:    "chat",
		summary: "run a line-based multi-user chat server",
		run:     chatMain,
	})
}

func chatMain(args []string) int {
	s := newServer("chat")
	addr := s.fs.String("listen", "127.0.0.1:7002", "address to listen on")
	if code, ok := s.start(args); !ok {
		return code
	}
	room := &chatRoom{users: make(map[string]*chatUser), s: s}
	f := gyre.FactoryFunc(func(peer net.Addr) gyre.Protocol { return room.newUser(peer) })
	if _, ok := s.listen(*addr, f); !ok {
		return 1
	}
	return s.run()
}

// chatRoom is the state every connection shares. It needs no lock: every
// callback runs on the loop.
type chatRoom struct {
	s     *server
	users map[string]*chatUser
}

// chatUser is one connection. The first line it sends is its name; every
// later line goes to everyone else as "<name> line". "/who" lists who is
// here, "/quit" leaves.
type chatUser struct {
	basic.LineReceiver
	room *chatRoom
	peer net.Addr
	name string
}

func (r *chatRoom) newUser(peer net.Addr) *chatUser {
	u := &chatUser{room: r, peer: peer}
	u.Delimiter = []byte("\n")
	u.MaxLength = 1024
	u.Connected = func(gyre.Transport) { u.send("welcome to gyre chat; what is your name?") }
	u.Line = u.line
	u.LineTooLong = func([]byte) { u.send("* line too long; goodbye") }
	u.Lost = u.lost
	return u
}

func (u *chatUser) send(msg string) { u.SendLine([]byte(msg)) }

func (u *chatUser) line(line []byte) {
	text := string(bytes.TrimRight(line, "\r"))
	r := u.room
	if u.name == "" {
		switch {
		case text == "" || len(text) > 32 || bytes.ContainsAny([]byte(text), " \t"):
			u.send("* a name is one word of at most 32 characters; try again")
		case r.users[text] != nil:
			u.send("* that name is taken; try another")
		default:
			u.name = text
			r.users[text] = u
			u.send(fmt.Sprintf("* hello %s; %d here", text, len(r.users)))
			r.broadcast(u, "* "+text+" has joined")
			r.s.log.Info("chat: joined", "name", text, "peer", u.peer.String())
		}
		return
	}
	switch text {
	case "/quit":
		u.send("* bye")
		u.LoseConnection()
	case "/who":
		for name := range r.users {
			u.send("* " + name)
		}
	default:
		r.broadcast(u, "<"+u.name+"> "+text)
	}
}

func (u *chatUser) lost(error) {
	if u.name == "" || u.room.users[u.name] != u {
		return
	}
	delete(u.room.users, u.name)
	u.room.broadcast(u, "* "+u.name+" has left")
}

func (r *chatRoom) broadcast(from *chatUser, msg string) {
	for _, u := range r.users {
		if u != from {
			u.send(msg)
		}
	}
}
