//go:build linux

package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const deadline = 15 * time.Second

// TestTUIChat drives the real program in a terminal (a private tmux server)
// against a real `gyre chat`, with a second client on a plain TCP
// connection: messages go both ways and show on screen, and quitting from
// the UI stops gyre cleanly, in both orders (Ctrl+C: gyre first; Ctrl+D: the
// UI first).
func TestTUIChat(t *testing.T) {
	tmux := needTmux(t)
	dir := t.TempDir()
	gyreBin := filepath.Join(dir, "gyre")
	chatBin := filepath.Join(dir, "tuichat")
	goBuild(t, gyreBin, "github.com/gyre-go/gyre/cmd/gyre")
	goBuild(t, chatBin, ".")

	server := exec.Command(gyreBin, "chat", "-listen", "127.0.0.1:0")
	stderr, err := server.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = server.Process.Signal(os.Interrupt)
		_ = server.Wait()
	}()
	addr := listenAddr(t, stderr)

	for _, tc := range []struct{ key, how string }{
		{"C-c", "gyre first"},
		{"C-d", "the UI first"},
	} {
		t.Run(tc.how, func(t *testing.T) {
			tm := startTmux(t, tmux, dir, chatBin, addr, "alice")
			tm.waitScreen(t, "* hello alice; 1 here")

			bob := dialChat(t, addr, "bob")
			defer bob.Close()
			tm.waitScreen(t, "* bob has joined")
			bob.send(t, "hi alice")
			tm.waitScreen(t, "<bob> hi alice")

			tm.keys(t, "-l", "hello bob")
			tm.keys(t, "Enter")
			bob.expect(t, "<alice> hello bob")

			tm.keys(t, tc.key)
			tm.waitExit(t)
			bob.expect(t, "* alice has left")
		})
	}
}

func needTmux(t *testing.T) string {
	if p, err := exec.LookPath("tmux"); err == nil {
		return p
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			out, err := exec.Command("apt-get", "install", "-y", "-q", "tmux").CombinedOutput()
			if err == nil {
				if p, err := exec.LookPath("tmux"); err == nil {
					return p
				}
			}
			t.Logf("apt-get install tmux: %v\n%s", err, out)
		}
	}
	t.Skip("tmux is not installed and could not be installed (needs root and apt-get): the end-to-end test drives the UI in a tmux terminal")
	return ""
}

func goBuild(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// listenAddr reads the server's log until its "listening" line.
func listenAddr(t *testing.T, stderr interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	re := regexp.MustCompile(`addr=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "listening") {
				if m := re.FindStringSubmatch(line); m != nil {
					found <- m[1]
				}
			}
		}
	}()
	select {
	case a := <-found:
		return a
	case <-time.After(deadline):
		t.Fatal("gyre chat printed no listening address")
		return ""
	}
}

type tmuxSession struct {
	tmux, sock, name, dir string
}

func startTmux(t *testing.T, tmux, dir, bin, addr, name string) *tmuxSession {
	t.Helper()
	tm := &tmuxSession{tmux: tmux, sock: fmt.Sprintf("gyre-tuichat-%d", os.Getpid()), name: "chat", dir: dir}
	os.Remove(filepath.Join(dir, "status"))
	script := fmt.Sprintf("%s -connect %s -name %s 2>%s; echo exit=$? >%s",
		bin, addr, name, filepath.Join(dir, "stderr"), filepath.Join(dir, "status"))
	tm.run(t, "new-session", "-d", "-s", tm.name, "-x", "100", "-y", "30", "sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command(tmux, "-L", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmuxSession) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(tm.tmux, append([]string{"-L", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (tm *tmuxSession) keys(t *testing.T, keys ...string) {
	t.Helper()
	tm.run(t, append([]string{"send-keys", "-t", tm.name}, keys...)...)
}

// waitScreen waits until the terminal shows want.
func (tm *tmuxSession) waitScreen(t *testing.T, want string) {
	t.Helper()
	end := time.Now().Add(deadline)
	var screen string
	for time.Now().Before(end) {
		out, err := exec.Command(tm.tmux, "-L", tm.sock, "capture-pane", "-p", "-t", tm.name).CombinedOutput()
		screen = string(out)
		if err == nil && strings.Contains(screen, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the screen never showed %q; it shows:\n%s", want, screen)
}

// waitExit waits for the program to exit and checks it stopped cleanly.
func (tm *tmuxSession) waitExit(t *testing.T) {
	t.Helper()
	status := filepath.Join(tm.dir, "status")
	end := time.Now().Add(deadline)
	for {
		b, err := os.ReadFile(status)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			if got := strings.TrimSpace(string(b)); got != "exit=0" {
				errs, _ := os.ReadFile(filepath.Join(tm.dir, "stderr"))
				t.Fatalf("tuichat ended with %s; stderr:\n%s", got, errs)
			}
			break
		}
		if time.Now().After(end) {
			t.Fatal("tuichat did not exit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	errs, _ := os.ReadFile(filepath.Join(tm.dir, "stderr"))
	if !strings.Contains(string(errs), "tuichat: gyre stopped cleanly") {
		t.Fatalf("tuichat did not report a clean stop; stderr:\n%s", errs)
	}
}

type chatConn struct {
	net.Conn
	r *bufio.Reader
}

func dialChat(t *testing.T, addr, name string) *chatConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, deadline)
	if err != nil {
		t.Fatal(err)
	}
	c := &chatConn{Conn: conn, r: bufio.NewReader(conn)}
	c.expect(t, "welcome to gyre chat")
	c.send(t, name)
	c.expect(t, "* hello "+name)
	return c
}

func (c *chatConn) send(t *testing.T, line string) {
	t.Helper()
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatal(err)
	}
}

// expect reads lines until one contains want.
func (c *chatConn) expect(t *testing.T, want string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	var seen []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for %q: %v (read %q)", want, err, seen)
		}
		if strings.Contains(line, want) {
			return
		}
		seen = append(seen, line)
	}
}
