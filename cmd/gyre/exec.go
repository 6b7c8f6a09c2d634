package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
	"github.com/gyre-go/gyre/reactor"
)

func init() {
	commands = append(commands, command{
		name:    "exec",
		summary: "run commands at once, their output prefixed line by line",
		run:     execMain,
	})
}

const execUsage = `usage: gyre exec [-backend NAME] [-grace D] [-c 'CMD ARGS'...] [-- CMD ARGS...]

Runs every command given, all at the same time, each on its own pipes (its
standard input is closed at once). Every line a command writes is printed
whole, on this program's standard output or error as the command wrote it,
after a prefix naming the command: "[1 ls] ...", numbered in the order the
commands are given. A last line without a newline is printed with one.

A command is either one -c flag, whose value is split into words at spaces
(quote with '...' or "...", escape with \; there is no other shell syntax),
or everything after "--", taken word for word. The program is looked up in
PATH. -c may be repeated, and the command after "--" runs too:

  gyre exec -- ls -l /
  gyre exec -c 'sleep 1' -c 'echo "two words"' -- sh -c 'echo done >&2'

Each command's end is logged (msg="child ended", with its exit status) on
standard error. The exit status is 0 if every command ran and exited 0, and
1 otherwise. SIGINT or SIGTERM sends SIGTERM to the commands still running,
waits up to -grace for them to end (then kills them), and exits 1.

flags:
`

// commandList collects repeated -c flags.
type commandList [][]string

func (l *commandList) String() string { return fmt.Sprint(*l) }

func (l *commandList) Set(v string) error {
	words, err := splitWords(v)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return errors.New("empty command")
	}
	*l = append(*l, words)
	return nil
}

func execMain(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), execUsage)
		fs.PrintDefaults()
	}
	backend := fs.String("backend", "", "backend to run on (default "+reactor.Default()+"; one of "+strings.Join(reactor.Backends(), ", ")+")")
	grace := fs.Duration("grace", 5*time.Second, "after SIGINT or SIGTERM, how long the commands have to end before they are killed")
	var cmds commandList
	fs.Var(&cmds, "c", "a command line to run (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if rest := fs.Args(); len(rest) > 0 {
		cmds = append(cmds, rest)
	}
	if len(cmds) == 0 {
		fs.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := reactor.NewBackend(*backend, gyre.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	procs, ok := r.(gyre.Processes)
	if !ok {
		fmt.Fprintf(os.Stderr, "gyre: backend %s cannot start processes\n", backendName(*backend))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	x := &execRun{r: r, log: log, grace: *grace, stdout: os.Stdout, stderr: os.Stderr}
	r.AddSystemEventTrigger(gyre.Before, gyre.Shutdown, x.beforeShutdown)
	r.CallWhenRunning(func() {
		for i, argv := range cmds {
			x.start(procs, i+1, argv)
		}
		x.stopIfDone()
	})
	err = r.RunContext(ctx)
	switch {
	case ctx.Err() != nil:
		log.Info("interrupted")
		return 1
	case err != nil:
		log.Error("reactor stopped", "err", err)
		return 1
	case x.failed:
		return 1
	}
	return 0
}

// execRun is the state of one gyre exec: every callback runs on the loop,
// so it needs no lock.
type execRun struct {
	r              gyre.Reactor
	log            *slog.Logger
	grace          time.Duration
	stdout, stderr io.Writer
	kids           []*execChild
	running        int
	failed         bool
	allEnded       *deferred.Deferred // fired when the last child ends during shutdown
	kill           gyre.DelayedCall   // the SIGKILL after the grace period
}

// execChild is one command: its protocol, and a partial line per stream.
type execChild struct {
	gyre.BaseProcessProtocol
	x      *execRun
	n      int
	name   string
	prefix []byte
	ended  bool
	tail   [3][]byte // the last, incomplete line of descriptors 1 and 2
	buf    []byte    // reused to build the lines of one write
}

func (x *execRun) start(procs gyre.Processes, n int, argv []string) {
	c := &execChild{x: x, n: n, name: filepath.Base(argv[0])}
	c.prefix = []byte(fmt.Sprintf("[%d %s] ", n, c.name))
	path, err := exec.LookPath(argv[0])
	if err == nil {
		_, err = procs.SpawnProcess(c, path, argv, nil)
	}
	if err != nil {
		x.log.Error("cannot start", "child", n, "cmd", strings.Join(argv, " "), "err", err)
		x.failed = true
		return
	}
	x.kids = append(x.kids, c)
	x.running++
}

// ConnectionMade closes the child's standard input.
func (c *execChild) ConnectionMade(t gyre.ProcessTransport) {
	c.Transport = t
	c.x.log.Debug("started", "child", c.n, "cmd", c.name, "pid", t.Pid())
	_ = t.CloseStdin()
}

// ChildDataReceived prints the complete lines of data, each after the
// prefix, in one write; an incomplete last line waits for the rest.
func (c *execChild) ChildDataReceived(fd int, data []byte) {
	if fd != 1 && fd != 2 {
		return
	}
	c.buf = c.buf[:0]
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			c.tail[fd] = append(c.tail[fd], data...)
			break
		}
		c.buf = append(c.buf, c.prefix...)
		c.buf = append(c.buf, c.tail[fd]...)
		c.buf = append(c.buf, data[:i+1]...)
		c.tail[fd] = c.tail[fd][:0]
		data = data[i+1:]
	}
	c.emit(fd)
}

// ChildConnectionLost prints a last line that had no newline.
func (c *execChild) ChildConnectionLost(fd int) {
	if (fd != 1 && fd != 2) || len(c.tail[fd]) == 0 {
		return
	}
	c.buf = append(append(append(c.buf[:0], c.prefix...), c.tail[fd]...), '\n')
	c.tail[fd] = nil
	c.emit(fd)
}

func (c *execChild) emit(fd int) {
	if len(c.buf) == 0 {
		return
	}
	w := c.x.stdout
	if fd == 2 {
		w = c.x.stderr
	}
	_, _ = w.Write(c.buf)
	if cap(c.buf) > 64<<10 {
		c.buf = nil
	}
}

// ProcessEnded reports the status.
func (c *execChild) ProcessEnded(status gyre.ExitStatus) {
	c.ended = true
	x := c.x
	x.running--
	level := slog.LevelInfo
	if !status.Success() {
		level = slog.LevelError
		x.failed = true
	}
	x.log.Log(context.Background(), level, "child ended", "child", c.n, "cmd", c.name, "status", status.String())
	x.stopIfDone()
}

// stopIfDone stops the reactor once every child has ended.
func (x *execRun) stopIfDone() {
	if x.running > 0 {
		return
	}
	if d := x.allEnded; d != nil {
		x.allEnded = nil
		if x.kill != nil {
			_ = x.kill.Cancel()
		}
		d.Callback(nil)
		return
	}
	_ = x.r.Stop()
}

// beforeShutdown runs when the reactor stops, on a signal or because every
// child ended. Children still running get SIGTERM, then SIGKILL after the
// grace period; shutdown waits until they have all ended.
func (x *execRun) beforeShutdown() *deferred.Deferred {
	if x.running == 0 {
		return nil
	}
	x.allEnded = deferred.New(nil)
	for _, c := range x.kids {
		if !c.ended {
			x.log.Info("terminating", "child", c.n, "cmd", c.name)
			_ = c.Transport.Signal(syscall.SIGTERM)
		}
	}
	if clock, ok := x.r.(gyre.Clock); ok {
		x.kill, _ = clock.CallLater(x.grace, func() {
			for _, c := range x.kids {
				if !c.ended {
					x.log.Warn("killing", "child", c.n, "cmd", c.name)
					_ = c.Transport.Signal(syscall.SIGKILL)
				}
			}
		})
	}
	return x.allEnded
}

// splitWords splits a command line into words at unquoted spaces and tabs.
// '...' quotes everything literally; "..." quotes, with \ escaping " and \;
// outside quotes \ escapes any character.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing \\ in %q", s)
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
