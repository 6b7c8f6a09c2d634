//go:build linux

package epoll

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gyre-go/gyre/internal/fdio"
)

// drainer reads every datagram waiting on fd when it is ready.
type drainer struct {
	fd  int
	got []string
}

func (d *drainer) Ready(ev fdio.Interest) {
	buf := make([]byte, 64)
	for {
		n, _, err := unix.Recvfrom(d.fd, buf, 0)
		if err != nil {
			return
		}
		d.got = append(d.got, string(buf[:n]))
	}
}

// inEpollSet reports whether fd is in the epoll set of epfd, from
// /proc/self/fdinfo.
func inEpollSet(t *testing.T, epfd, fd int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", epfd))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var tfd int
		if _, err := fmt.Sscanf(line, "tfd: %d", &tfd); err == nil && tfd == fd {
			return true
		}
	}
	return false
}

// TestBusyDescriptorAside follows a busy descriptor through the poller: it
// leaves the epoll set when the loop polls without sleeping after it was
// ready (an idle one stays), is found ready
// by poll(2) there, returns before a sleep, is waited for by Block while
// aside, and can be changed and removed while aside.
func TestBusyDescriptorAside(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	send := func(s string) {
		t.Helper()
		if _, err := peer.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// sendLater sends from another goroutine, while the test waits.
	sent := make(chan error, 1)
	sendLater := func(s string) {
		go func() {
			_, err := peer.Write([]byte(s))
			sent <- err
		}()
	}
	h := &drainer{fd: fd}
	if err := p.Add(fd, h, fdio.In); err != nil {
		t.Fatal(err)
	}
	p.MarkBusy(fd)
	// waitFound calls Wait(0) until it finds something, for up to 5 s.
	waitFound := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			found, err := p.Wait(0)
			if err != nil {
				t.Fatal(err)
			}
			if found {
				p.Dispatch()
				return
			}
		}
		t.Fatalf("Wait(0) found nothing within 5 s: %s", what)
	}
	// waitSleeping calls one sleeping Wait, which must find something.
	waitSleeping := func(what string) {
		t.Helper()
		if found, err := p.Wait(5 * time.Second); err != nil || !found {
			t.Fatalf("Wait(5s) = %v, %v; want %s found", found, err, what)
		}
		p.Dispatch()
	}
	// wasSent checks the send of sendLater.
	wasSent := func() {
		t.Helper()
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	wantGot := func(want string) {
		t.Helper()
		if got := strings.Join(h.got, ","); got != want {
			t.Fatalf("datagrams read: %q, want %q", got, want)
		}
	}

	// Idle, it stays in the epoll set however the loop polls.
	if found, _ := p.Wait(0); found {
		t.Fatal("Wait(0) found something with nothing sent")
	}
	if !inEpollSet(t, p.epfd, fd) {
		t.Fatal("an idle busy descriptor left the epoll set")
	}

	// A sleeping wait finds it in the epoll set.
	send("a")
	waitSleeping("datagram a")
	wantGot("a")
	if !inEpollSet(t, p.epfd, fd) {
		t.Fatal("the busy descriptor is not in the epoll set after a sleeping wait")
	}

	// Polling without sleeping, after it was ready, sets it aside, and
	// still finds its datagrams.
	if found, _ := p.Wait(0); found {
		t.Fatal("Wait(0) found something with nothing sent")
	}
	if inEpollSet(t, p.epfd, fd) {
		t.Fatal("the busy descriptor is still in the epoll set while the loop polls without sleeping")
	}
	send("b")
	waitFound("datagram b, descriptor aside")
	wantGot("a,b")

	// A sleeping wait puts it back first, and then finds it.
	if found, _ := p.Wait(time.Millisecond); found {
		t.Fatal("Wait(1ms) found something with nothing sent")
	}
	if !inEpollSet(t, p.epfd, fd) {
		t.Fatal("the busy descriptor was not put back before a sleeping wait")
	}
	sendLater("c")
	waitSleeping("datagram c")
	wasSent()
	wantGot("a,b,c")

	// Block (a foreign loop's wait) waits for it while it is aside.
	p.Wait(0)
	if inEpollSet(t, p.epfd, fd) {
		t.Fatal("not aside before Park")
	}
	p.Park()
	start := time.Now()
	sendLater("d")
	if err := p.Block(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	wasSent()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Block returned after %v, not when datagram d arrived", took)
	}
	waitFound("datagram d after Block")
	wantGot("a,b,c,d")

	// Watching for nothing while aside: nothing is reported; watching for
	// In again puts it back in the set.
	if err := p.Modify(fd, 0); err != nil {
		t.Fatal(err)
	}
	send("e")
	for range 3 {
		if found, _ := p.Wait(0); found {
			t.Fatal("Wait(0) reported a descriptor that watches for nothing")
		}
	}
	if inEpollSet(t, p.epfd, fd) {
		t.Fatal("a descriptor that watches for nothing is in the epoll set")
	}
	if err := p.Modify(fd, fdio.In); err != nil {
		t.Fatal(err)
	}
	if !inEpollSet(t, p.epfd, fd) {
		t.Fatal("Modify(In) did not put the descriptor back in the epoll set")
	}
	waitFound("datagram e after Modify(In)")
	wantGot("a,b,c,d,e")

	// Removing it while aside forgets it.
	p.Wait(0)
	if inEpollSet(t, p.epfd, fd) {
		t.Fatal("not aside before Remove")
	}
	if err := p.Remove(fd); err != nil {
		t.Fatalf("Remove of a descriptor set aside: %v", err)
	}
	if len(p.busy) != 0 {
		t.Fatalf("busy descriptors after Remove: %v", p.busy)
	}
	send("f")
	if found, _ := p.Wait(0); found {
		t.Fatal("Wait(0) reported a removed descriptor")
	}
	wantGot("a,b,c,d,e")
}
