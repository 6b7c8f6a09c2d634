package reactortest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/deferred"
)

// Cases for the "Processes: child processes, pipes and terminals" rules of
// docs/SPEC.md. The children are system programs (see processutil.go).

func init() {
	const n = NeedProcesses | NeedClock
	pc := func(id string, f func(c *C)) Case { return Case{ID: id, Facet: FacetProcess, Needs: n, Test: f} }
	register(
		pc("process.spawn.returns", procSpawnReturns),
		pc("process.args.bytes#every-byte", procArgsBytes),
		pc("process.args.bytes#argv0", procArgsZero),
		pc("process.args.default", procArgsDefault),
		pc("process.options.invalid#zero-childfd", func(c *C) {
			procInvalid(c, gyre.ErrSpawnOptions, nil, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{0: gyre.ChildReads, 1: {}}})
		}),
		pc("process.options.invalid#negative-fd", func(c *C) {
			procInvalid(c, gyre.ErrSpawnOptions, nil, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{-1: gyre.ChildWrites}})
		}),
		pc("process.options.invalid#negative-inherit", func(c *C) {
			procInvalid(c, gyre.ErrSpawnOptions, nil, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{1: gyre.ChildWrites, 3: gyre.InheritFD(-1)}})
		}),
		pc("process.options.invalid#nul", procInvalidNUL),
		pc("process.options.invalid#nil-protocol", procInvalidNilProto),
		pc("process.env.nil", procEnvNil),
		pc("process.env.given", func(c *C) {
			procEnvExact(c, []string{"GYRE_A=1", "GYRE_B=two words", "GYRE_EMPTY=", "GYRE_C=x=y"})
		}),
		pc("process.env.empty", func(c *C) { procEnvExact(c, []string{}) }),
		pc("process.dir#given", procDirGiven),
		pc("process.dir#default", procDirDefault),
		pc("process.credential#groups", func(c *C) { procCredential(c, []uint32{65531, 65530}) }),
		pc("process.credential#no-groups", func(c *C) { procCredential(c, nil) }),
		pc("process.start.missing", procStartMissing),
		pc("process.start.not-executable#file", procStartNotExecFile),
		pc("process.start.not-executable#directory", procStartNotExecDir),
		pc("process.start.bad-dir", procStartBadDir),
		pc("process.stopped", procStopped),
		pc("process.before-run", procBeforeRun),
		pc("process.signals.reset#usr1", func(c *C) { procSignalsReset(c, procSIGUSR1, "USR1") }),
		pc("process.signals.reset#pipe", func(c *C) { procSignalsReset(c, procSIGPIPE, "PIPE") }),
		pc("process.fds.default", procFDsDefault),
		pc("process.fds.map", procFDsMap),
		pc("process.fds.inherit", procFDsInherit),
		pc("process.fds.unmapped", procFDsUnmapped),
		pc("process.fds.exact#default", func(c *C) { procFDsExact(c, nil, []int{0, 1, 2}) }),
		pc("process.fds.exact#map", func(c *C) {
			procFDsExact(c, map[int]gyre.ChildFD{0: gyre.ChildReads, 1: gyre.ChildWrites, 6: gyre.ChildWrites}, []int{0, 1, 6})
		}),
		pc("process.write#calls", procWriteCalls),
		pc("process.write#buffered", procWriteBuffered),
		pc("process.write.unknown", procWriteUnknown),
		pc("process.write.broken", procWriteBroken),
		pc("process.close-stdin", procCloseStdin),
		pc("process.close-child-fd", procCloseChildFD),
		pc("process.child-connection-lost", procChildLost),
		pc("process.lose-connection", procLoseConnection),
		pc("process.pause", procPause),
		pc("process.exited.prompt", procExitedPrompt),
		pc("process.ended.after-output", procEndedAfterOutput),
		pc("process.status.clean", func(c *C) { procStatus(c, "exit 0", 0, 0) }),
		pc("process.status.code", func(c *C) { procStatus(c, "exit 42", 42, 0) }),
		pc("process.status.signal", func(c *C) { procStatus(c, "kill -KILL $$", -1, syscall.SIGKILL) }),
		pc("process.signal", procSignal),
		pc("process.signal.exited#after-ended", procSignalAfterEnded),
		pc("process.signal.exited#not-noticed", procSignalNotNoticed),
		pc("process.pid", procPid),
		pc("process.concurrent", procConcurrent),
		pc("process.coexist", procCoexist),
		pc("process.pty#terminal", procPTY),
		pc("process.pty#lose-connection", procPTYLose),
		pc("process.pty.size", procPTYSize),
		pc("process.pty.with-fds", func(c *C) {
			procInvalid(c, gyre.ErrSpawnOptions, nil, &gyre.SpawnOptions{
				FDs: map[int]gyre.ChildFD{0: gyre.ChildReads, 1: gyre.ChildWrites}, PTY: &gyre.PTYOptions{},
			})
		}),
		pc("process.loop", procLoop),
		pc("process.panic#made", func(c *C) { procPanic(c, "ConnectionMade") }),
		pc("process.panic#data", func(c *C) { procPanic(c, "ChildDataReceived") }),
		pc("process.panic#exited", func(c *C) { procPanic(c, "ProcessExited") }),
		pc("process.panic#ended", func(c *C) { procPanic(c, "ProcessEnded") }),
		pc("process.shutdown#running", procShutdownRunning),
		pc("process.shutdown#exited", procShutdownExited),
		pc("process.shutdown#grandchild", procShutdownGrandchild),
		pc("process.volume#from-child", procVolumeFrom),
		pc("process.volume#to-child", procVolumeTo),
	)
}

// procVolume is what the volume cases move: 50 MiB.
const procVolume = 50 << 20

func procSpawnReturns(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	var inMade gyre.ProcessTransport
	var eventsInMade []string
	p.onMade = func() {
		inMade = p.t
		eventsInMade = append([]string(nil), p.events...)
	}
	path, args := e.sh("exit 0")
	t := e.spawn(p, path, args, nil)
	c.True(inMade == t, "ConnectionMade got transport %v, SpawnProcess returned %v", inMade, t)
	c.Equal(eventsInMade, []string{"made"}, "events up to ConnectionMade")
	c.Equal(p.events, []string{"made"}, "events when SpawnProcess returned")
	c.True(t.Pid() > 0, "Pid() after SpawnProcess = %d, want > 0", t.Pid())
	e.run()
	p.endedWith(0, 0)
}

// procArgList is the argument list of the every-byte case: awkward
// arguments, then every byte from 1 to 255, alone and all together.
func procArgList() []string {
	args := []string{"plain", "two words", "  lead and trail  ", "", `"double"`, "'single'",
		"tab\there", "new\nline", "$HOME", "`id`", "$(id)", "|<>^&;()*?[]{}~#!", `back\slash\`, "-", "--", "-c", ""}
	var all []byte
	for b := 1; b <= 255; b++ {
		args = append(args, string([]byte{byte(b)}))
		all = append(all, byte(b))
	}
	return append(args, string(all))
}

func procArgsBytes(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	want := procArgList()
	path, args := e.sh(`printf '%s\0' "$@"`, want...)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	got := strings.Split(p.data(1), "\x00")
	if len(got) > 0 && got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	if len(got) != len(want) {
		c.Fatalf("the child got %d arguments, want %d (stderr %q)", len(got), len(want), p.data(2))
	}
	for i := range want {
		if got[i] != want[i] {
			c.Errorf("argument %d: the child got %q, want %q", i+1, got[i], want[i])
		}
	}
}

func procArgsZero(c *C) {
	e := procStart(c)
	ps := e.prog("ps")
	p := e.proto("child").stopOnEnded()
	path, _ := e.sh("")
	// The shell's own argv[0] is what ps shows first for it.
	e.spawn(p, path, []string{"gyre-argv0-test", "-c", ps + " -o args= -p $$"}, nil)
	e.run()
	p.endedWith(0, 0)
	if got := strings.TrimSpace(p.data(1)); !strings.HasPrefix(got, "gyre-argv0-test -c") {
		c.Errorf("ps shows the child as %q, want it to start with the argv[0] given, %q (stderr %q)",
			got, "gyre-argv0-test -c", p.data(2))
	}
}

func procArgsDefault(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, _ := e.sh("")
	p.onMade = func() {
		// A shell with no arguments reads its commands from standard
		// input; $0 is then its argv[0].
		p.mustWrite([]byte(`echo "$0"; exit 5` + "\n"))
	}
	e.spawn(p, path, nil, nil)
	e.run()
	p.endedWith(5, 0)
	c.Equal(strings.TrimSpace(p.data(1)), path, "argv[0] of a child spawned with empty args")
}

// procInvalid checks that SpawnProcess refuses opts with an error matching
// want, and starts nothing.
func procInvalid(c *C, want error, args []string, opts *gyre.SpawnOptions) {
	e := procStart(c)
	p := e.proto("child")
	path, shArgs := e.sh("exit 0")
	if args == nil {
		args = shArgs
	}
	t, err := e.trySpawn(p, path, args, opts)
	c.ErrIs(err, want, "SpawnProcess")
	c.True(t == nil, "SpawnProcess returned a transport %v with the error", t)
	c.Equal(p.made, 0, "ConnectionMade calls")
	e.finish()
}

func procInvalidNUL(c *C) {
	path, args := "/bin/sh", []string{"sh", "-c", "exit 0"}
	for _, k := range []struct {
		what string
		path string
		args []string
		opts *gyre.SpawnOptions
	}{
		{"path", path + "\x00x", args, nil},
		{"argument", path, []string{"sh", "-c", "exit 0", "a\x00b"}, nil},
		{"environment", path, args, &gyre.SpawnOptions{Env: []string{"A=1\x002"}}},
		{"directory", path, args, &gyre.SpawnOptions{Dir: os.TempDir() + "\x00x"}},
	} {
		e := procStart(c)
		p := e.proto("child with a NUL byte in its " + k.what)
		t, err := e.trySpawn(p, k.path, k.args, k.opts)
		c.ErrIs(err, gyre.ErrSpawnOptions, "SpawnProcess with a NUL byte in the "+k.what)
		c.True(t == nil, "SpawnProcess returned a transport %v with the error", t)
		c.Equal(p.made, 0, "ConnectionMade calls")
	}
}

func procInvalidNilProto(c *C) {
	e := procStart(c)
	path, args := e.sh("exit 0")
	t, err := c.Processes.SpawnProcess(nil, path, args, nil)
	c.ErrIs(err, gyre.ErrNilFunc, "SpawnProcess(nil, ...)")
	c.True(t == nil, "SpawnProcess(nil, ...) returned a transport %v", t)
}

// procEnvSet sets an environment variable for the length of the case.
func procEnvSet(c *C, key, value string) func() {
	old, had := os.LookupEnv(key)
	if err := os.Setenv(key, value); err != nil {
		c.Fatalf("Setenv: %v", err)
	}
	return func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	}
}

func procEnvNil(c *C) {
	e := procStart(c)
	env := e.prog("env")
	defer procEnvSet(c, "GYRE_PROCESS_ENV_TEST", "value with spaces = and an equals sign")()
	p := e.proto("child").stopOnEnded()
	want := os.Environ()
	e.spawn(p, env, []string{"env"}, &gyre.SpawnOptions{Env: nil})
	e.run()
	p.endedWith(0, 0)
	got := strings.Split(strings.TrimSuffix(p.data(1), "\n"), "\n")
	joined := strings.Split(strings.Join(want, "\n"), "\n") // entries that hold newlines, split alike
	sort.Strings(got)
	sort.Strings(joined)
	if strings.Join(got, "\n") != strings.Join(joined, "\n") {
		c.Errorf("the child's environment differs from the parent's:\n got %q\nwant %q", got, joined)
	}
}

func procEnvExact(c *C, env []string) {
	e := procStart(c)
	envProg := e.prog("env")
	p := e.proto("child").stopOnEnded()
	e.spawn(p, envProg, []string{"env"}, &gyre.SpawnOptions{Env: env})
	e.run()
	p.endedWith(0, 0)
	want := ""
	for _, kv := range env {
		want += kv + "\n"
	}
	c.Equal(fmt.Sprintf("%q", p.data(1)), fmt.Sprintf("%q", want), "the child's environment, as env prints it")
}

// procRealPath resolves symbolic links, as pwd -P does.
func procRealPath(c *C, dir string) string {
	c.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		c.Fatalf("EvalSymlinks(%q): %v", dir, err)
	}
	return real
}

func procDirGiven(c *C) {
	e := procStart(c)
	defer e.finish()
	dir := filepath.Join(e.tempDir(), "work dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		c.Fatalf("Mkdir: %v", err)
	}
	want := procRealPath(c, dir)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh("pwd -P")
	e.spawn(p, path, args, &gyre.SpawnOptions{Dir: dir})
	e.run()
	p.endedWith(0, 0)
	c.Equal(strings.TrimSuffix(p.data(1), "\n"), want, "the child's working directory")
}

func procDirDefault(c *C) {
	e := procStart(c)
	wd, err := os.Getwd()
	if err != nil {
		c.Fatalf("Getwd: %v", err)
	}
	want := procRealPath(c, wd)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh("pwd -P")
	e.spawn(p, path, args, &gyre.SpawnOptions{})
	e.run()
	p.endedWith(0, 0)
	c.Equal(strings.TrimSuffix(p.data(1), "\n"), want, "the child's working directory")
}

func procCredential(c *C, groups []uint32) {
	e := procStart(c)
	if os.Geteuid() != 0 {
		c.Skipf("running a child as another user needs root; the tests run as uid %d", os.Geteuid())
	}
	id := e.prog("id")
	const uid, gid = 65534, 65533
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(`"$1" -u; "$1" -g; "$1" -G`, id)
	e.spawn(p, path, args, &gyre.SpawnOptions{
		Dir:        "/",
		Credential: &gyre.ProcessCredential{UID: uid, GID: gid, Groups: groups},
	})
	e.run()
	p.endedWith(0, 0)
	lines := strings.Split(strings.TrimSpace(p.data(1)), "\n")
	if len(lines) != 3 {
		c.Fatalf("id printed %q (stderr %q), want three lines", p.data(1), p.data(2))
	}
	c.Equal(lines[0], strconv.Itoa(uid), "the child's user id")
	c.Equal(lines[1], strconv.Itoa(gid), "the child's group id")
	want := map[string]bool{strconv.Itoa(gid): true}
	for _, g := range groups {
		want[strconv.Itoa(int(g))] = true
	}
	got := make(map[string]bool)
	for _, g := range strings.Fields(lines[2]) {
		got[g] = true
	}
	c.Equal(got, want, "the child's groups (id -G)")
	c.Equal(os.Geteuid(), 0, "the parent's own user id afterwards")
}

// procStartFails checks a spawn that must fail with ErrSpawn and want.
func procStartFails(c *C, e *procEnv, path string, opts *gyre.SpawnOptions, want error) error {
	c.Helper()
	p := e.proto("child")
	t, err := e.trySpawn(p, path, []string{filepath.Base(path)}, opts)
	c.ErrIs(err, gyre.ErrSpawn, "SpawnProcess")
	c.ErrIs(err, want, "SpawnProcess")
	c.True(t == nil, "SpawnProcess returned a transport %v with the error", t)
	c.Equal(p.made, 0, "ConnectionMade calls")
	return err
}

func procStartMissing(c *C) {
	e := procStart(c)
	defer e.finish()
	procStartFails(c, e, filepath.Join(e.tempDir(), "no-such-program"), nil, fs.ErrNotExist)
	e.finish()
}

func procStartNotExecFile(c *C) {
	e := procStart(c)
	defer e.finish()
	path := filepath.Join(e.tempDir(), "not-executable")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		c.Fatalf("WriteFile: %v", err)
	}
	procStartFails(c, e, path, nil, fs.ErrPermission)
	e.finish()
}

func procStartNotExecDir(c *C) {
	e := procStart(c)
	defer e.finish()
	procStartFails(c, e, e.tempDir(), nil, fs.ErrPermission)
	e.finish()
}

func procStartBadDir(c *C) {
	e := procStart(c)
	defer e.finish()
	dir := filepath.Join(e.tempDir(), "no-such-dir")
	path, _ := e.sh("exit 0")
	err := procStartFails(c, e, path, &gyre.SpawnOptions{Dir: dir}, fs.ErrNotExist)
	if err != nil && !strings.Contains(err.Error(), dir) {
		c.Errorf("the error %q does not name the directory %s", err, dir)
	}
	e.finish()
}

func procStopped(c *C) {
	e := procStart(c)
	e.whenRunning(func() { c.NoErr(c.R.Stop(), "Stop") })
	c.NoErr(c.Run(), "Run")
	p := e.proto("child")
	path, args := e.sh("exit 0")
	t, err := e.trySpawn(p, path, args, nil)
	c.ErrIs(err, gyre.ErrStopped, "SpawnProcess on a stopped reactor")
	c.True(t == nil, "SpawnProcess returned a transport %v", t)
	c.Equal(p.made, 0, "ConnectionMade calls")
	e.finish()
}

func procBeforeRun(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh("echo early; echo late >&2; exit 3")
	t := e.spawn(p, path, args, nil)
	if err := procWaitExited(t.Pid()); err != nil {
		c.Fatalf("waiting for the child to exit before Run: %v", err)
	}
	e.run()
	p.endedWith(3, 0)
	c.Equal(p.data(1), "early\n", "output on 1")
	c.Equal(p.data(2), "late\n", "output on 2")
}

func procSignalsReset(c *C, sig syscall.Signal, name string) {
	e := procStart(c)
	was := signal.Ignored(sig)
	signal.Ignore(sig)
	defer func() {
		if !was {
			signal.Reset(sig)
		}
	}()
	p := e.proto("child").stopOnEnded()
	path, args := e.sh("kill -" + name + " $$; echo survived")
	e.spawn(p, path, args, nil)
	c.True(signal.Ignored(sig), "the parent no longer ignores %v after SpawnProcess", sig)
	e.run()
	p.endedWith(-1, sig)
	c.Equal(p.data(1), "", "output of a child that should have died of "+name)
}

func procFDsDefault(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(`"$1"; echo err >&2`, cat)
	p.onMade = func() {
		p.mustWrite([]byte("to stdin\n"))
		p.mustCloseStdin()
	}
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "to stdin\n", "output on 1")
	c.Equal(p.data(2), "err\n", "output on 2")
	c.Equal(len(p.order), 3, "ChildConnectionLost calls")
}

func procFDsMap(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(`echo three >&3; exec 3>&-; read line <&7; echo "seven:$line"; echo err >&2`)
	p.onMade = func() {
		if err := p.writeTo(7, []byte("hello\n")); err != nil {
			e.fail("WriteToChild(7): %v", err)
		}
		if err := p.closeFD(7); err != nil {
			e.fail("CloseChildFD(7): %v", err)
		}
	}
	e.spawn(p, path, args, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{
		0: gyre.ChildReads, 1: gyre.ChildWrites, 2: gyre.ChildWrites, 3: gyre.ChildWrites, 7: gyre.ChildReads,
	}})
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(3), "three\n", "output on 3")
	c.Equal(p.data(1), "seven:hello\n", "output on 1")
	c.Equal(p.data(2), "err\n", "output on 2")
	for _, fd := range []int{0, 1, 2, 3, 7} {
		c.Equal(p.lost[fd], 1, fmt.Sprintf("ChildConnectionLost(%d) calls", fd))
	}
}

func procFDsInherit(c *C) {
	e := procStart(c)
	r, w, err := os.Pipe()
	if err != nil {
		c.Fatalf("os.Pipe: %v", err)
	}
	defer r.Close()
	defer w.Close()
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(`echo inherited >&4`)
	e.spawn(p, path, args, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{
		0: gyre.ChildReads, 1: gyre.ChildWrites, 2: gyre.ChildWrites, 4: gyre.InheritFD(int(w.Fd())),
	}})
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(2), "", "the child's errors")
	// The parent's descriptor is still open and still the caller's.
	if _, err := w.Write([]byte("parent\n")); err != nil {
		c.Errorf("writing to the inherited descriptor after ProcessEnded: %v", err)
	}
	w.Close()
	got, err := io.ReadAll(r)
	c.NoErr(err, "reading the pipe")
	c.Equal(string(got), "inherited\nparent\n", "what the pipe carried")
}

func procFDsUnmapped(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	// "9<&n" fails if n is closed; a failure message would go to 2, which
	// is closed too when the rule holds.
	path, args := e.sh(`for n in 0 2; do if ( : 9<&$n ); then echo "$n:open"; else echo "$n:closed"; fi; done`)
	e.spawn(p, path, args, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{1: gyre.ChildWrites}})
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "0:closed\n2:closed\n", "the child's view of its descriptors 0 and 2")
}

func procFDsExact(c *C, fds map[int]gyre.ChildFD, want []int) {
	e := procStart(c)
	if _, err := procChildFDs(os.Getpid()); err != nil {
		c.Skipf("cannot list a child's descriptors here: %v", err)
	}
	cat := e.prog("cat")
	inheritable := procInheritable()
	// Descriptors the child must not get: a file, a listening socket of the
	// reactor, the pipes of another child.
	f, err := os.Open(os.DevNull)
	if err != nil {
		c.Fatalf("open %s: %v", os.DevNull, err)
	}
	defer f.Close()
	if c.TCP != nil {
		port, err := c.TCP.ListenTCP("127.0.0.1:0", gyre.FactoryFunc(func(net.Addr) gyre.Protocol { return nil }))
		if err == nil {
			defer port.StopListening()
		}
	}
	other := e.proto("other").stopOnEnded()
	e.spawn(other, cat, []string{"cat"}, nil)
	p := e.proto("child").stopOnEnded()
	p.onData = func(fd int, b []byte) {
		if fd != 1 || p.data(1) != "ping\n" {
			return
		}
		// cat has echoed a line: it runs its loop, holding only what it
		// was given.
		got, err := procChildFDs(p.t.Pid())
		if err != nil {
			e.fail("listing the child's descriptors: %v", err)
			return
		}
		var extra []int
		for _, fd := range got {
			if inheritable[fd] {
				c.Logf("descriptor %d of the test process is not close-on-exec; not counted", fd)
				continue
			}
			extra = append(extra, fd)
		}
		c.Equal(extra, want, "the child's open descriptors")
		p.mustCloseStdin()
		other.mustCloseStdin()
	}
	e.spawn(p, cat, []string{"cat"}, &gyre.SpawnOptions{FDs: fds})
	p.mustWrite([]byte("ping\n"))
	e.run()
	p.endedWith(0, 0)
	other.endedWith(0, 0)
}

func procWriteCalls(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	p.onMade = func() {
		p.mustWrite([]byte("a"))
		var err error
		p.call("WriteSequence", func() { err = p.t.WriteSequence([][]byte{[]byte("b"), []byte("cd"), nil, []byte("e")}) })
		c.NoErr(err, "WriteSequence")
		c.NoErr(p.writeTo(0, []byte("f")), "WriteToChild(0)")
		buf := []byte("g")
		p.mustWrite(buf)
		buf[0] = 'X' // the caller may reuse its slice at once
		p.mustWrite(nil)
		p.mustWrite([]byte("h"))
		p.mustCloseStdin()
	}
	e.spawn(p, cat, []string{"cat"}, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "abcdefgh", "what the child read")
}

func procWriteBuffered(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	p.drop = true
	want := procPattern(3 << 20)
	var got bytes.Buffer
	p.onData = func(fd int, b []byte) {
		if fd == 1 {
			got.Write(b)
		}
	}
	p.onMade = func() {
		// Far more than a pipe holds: most of it is buffered.
		for off := 0; off < len(want); off += 256 << 10 {
			chunk := append([]byte(nil), want[off:off+256<<10]...)
			p.mustWrite(chunk)
			clear(chunk)
		}
		p.mustCloseStdin()
	}
	e.spawn(p, cat, []string{"cat"}, nil)
	e.run()
	p.endedWith(0, 0)
	if !bytes.Equal(got.Bytes(), want) {
		c.Errorf("cat echoed %d bytes that differ from the %d written (first difference at %d)",
			got.Len(), len(want), procFirstDiff(got.Bytes(), want))
	}
}

func procFirstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func procWriteUnknown(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	null, err := os.Open(os.DevNull)
	if err != nil {
		c.Fatalf("open %s: %v", os.DevNull, err)
	}
	defer null.Close()
	p := e.proto("child").stopOnEnded()
	p.onMade = func() {
		for _, fd := range []int{7, 1, 2, 3, -1} {
			c.ErrIs(p.writeTo(fd, []byte("x")), gyre.ErrUnknownChildFD, fmt.Sprintf("WriteToChild(%d)", fd))
		}
		for _, fd := range []int{7, 3, -1} {
			c.ErrIs(p.closeFD(fd), gyre.ErrUnknownChildFD, fmt.Sprintf("CloseChildFD(%d)", fd))
		}
		p.mustCloseStdin()
		c.ErrIs(p.write([]byte("x")), gyre.ErrUnknownChildFD, "Write after CloseStdin")
		c.ErrIs(p.writeTo(0, []byte("x")), gyre.ErrUnknownChildFD, "WriteToChild(0) after CloseStdin")
		c.ErrIs(p.closeStdin(), gyre.ErrUnknownChildFD, "a second CloseStdin")
		c.ErrIs(p.closeFD(0), gyre.ErrUnknownChildFD, "CloseChildFD(0) after CloseStdin")
	}
	p.onEnded = func(gyre.ExitStatus) {
		c.ErrIs(p.closeFD(1), gyre.ErrUnknownChildFD, "CloseChildFD(1) after ProcessEnded")
		c.ErrIs(p.write([]byte("x")), gyre.ErrUnknownChildFD, "Write after ProcessEnded")
	}
	e.spawn(p, cat, []string{"cat"}, &gyre.SpawnOptions{FDs: map[int]gyre.ChildFD{
		0: gyre.ChildReads, 1: gyre.ChildWrites, 2: gyre.ChildWrites, 3: gyre.InheritFD(int(null.Fd())),
	}})
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "", "what cat read")
}

func procWriteBroken(c *C) {
	e := procStart(c)
	head := e.prog("head")
	p := e.proto("child").stopOnEnded()
	writing := false
	p.onMade = func() {
		// head takes 1000 bytes and exits; the rest can never be sent.
		writing = true
		p.mustWrite(procPattern(4 << 20))
		writing = false
	}
	p.onLost = func(fd int) {
		if fd != 0 {
			return
		}
		if writing {
			e.fail("ChildConnectionLost(0) came from inside Write")
		}
		c.ErrIs(p.write([]byte("more")), gyre.ErrUnknownChildFD, "Write after the child closed its end")
	}
	path, args := e.sh(`"$1" -c 1000 >/dev/null; echo done`, head)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "done\n", "output on 1")
	c.Equal(p.lost[0], 1, "ChildConnectionLost(0) calls")
}

func procCloseStdin(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	want := append([]byte("first line\n"), procPattern(300<<10)...)
	closing := false
	p.onMade = func() {
		p.mustWrite(want[:11])
		p.mustWrite(want[11:])
		closing = true
		p.mustCloseStdin()
		closing = false
	}
	p.onLost = func(fd int) {
		if fd == 0 && closing {
			e.fail("ChildConnectionLost(0) came from inside CloseStdin")
		}
	}
	e.spawn(p, cat, []string{"cat"}, nil)
	e.run()
	p.endedWith(0, 0)
	if p.data(1) != string(want) {
		c.Errorf("cat echoed %d bytes, want the %d written before CloseStdin", len(p.data(1)), len(want))
	}
	c.Equal(p.lost[0], 1, "ChildConnectionLost(0) calls")
}

func procCloseChildFD(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	closing := false
	p.onData = func(fd int, b []byte) {
		if fd == 1 && p.data(1) == "first\n" {
			closing = true
			c.NoErr(p.closeFD(1), "CloseChildFD(1)")
			closing = false
			p.mustWrite([]byte("go\n"))
		}
	}
	p.onLost = func(fd int) {
		if fd == 1 && closing {
			e.fail("ChildConnectionLost(1) came from inside CloseChildFD")
		}
	}
	// Once the parent has closed its end of 1, the second echo fails: the
	// shell dies of SIGPIPE (default in the child, see process.signals.reset).
	path, args := e.sh(`echo first; read x; echo second; echo "still here" >&2`)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(-1, procSIGPIPE)
	c.Equal(p.data(1), "first\n", "output on 1")
	c.Equal(p.data(2), "", "output on 2")
}

func procChildLost(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.onLost = func(fd int) {
		switch fd {
		case 2:
			p.mustWrite([]byte("one\n"))
		case 1:
			p.mustWrite([]byte("two\n"))
		}
	}
	path, args := e.sh(`exec 2>&-; read x; exec 1>&-; read y; exit 0`)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.order, []int{2, 1, 0}, "the order of ChildConnectionLost")
}

func procLoseConnection(c *C) {
	e := procStart(c)
	defer e.finish()
	wc := e.prog("wc")
	file := filepath.Join(e.tempDir(), "count")
	p := e.proto("child").stopOnEnded()
	losing := false
	p.onMade = func() {
		p.mustWrite(procPattern(200 << 10))
		losing = true
		p.call("LoseConnection", p.t.LoseConnection)
		losing = false
	}
	p.onLost = func(fd int) {
		if losing {
			e.fail("ChildConnectionLost(%d) came from inside LoseConnection", fd)
		}
	}
	path, args := e.sh(`"$1" -c > "$2"; exit 7`, wc, file)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(7, 0)
	got, _ := procWaitFile(file, strconv.Itoa(200<<10))
	c.Equal(got, strconv.Itoa(200<<10), "bytes the child read before end of file")
	c.Equal(len(p.order), 3, "ChildConnectionLost calls")
}

func procPause(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	paused := false
	p.onMade = func() {
		p.call("PauseProducing", p.t.PauseProducing)
		paused = true
	}
	p.onData = func(fd int, b []byte) {
		if paused {
			e.fail("ChildDataReceived(%d, %q) while paused", fd, b)
		}
	}
	p.onLost = func(fd int) {
		if paused && fd != 0 {
			e.fail("ChildConnectionLost(%d) while paused: its end of file was read", fd)
		}
	}
	p.onExited = func(gyre.ExitStatus) {
		// The output is waiting in the pipes; give the reactor time to
		// misdeliver it, then resume.
		e.later(50*time.Millisecond, func() {
			if len(p.ended) > 0 {
				e.fail("ProcessEnded came while paused")
			}
			paused = false
			p.call("ResumeProducing", p.t.ResumeProducing)
		})
	}
	path, args := e.sh(`echo out; echo err >&2; exit 0`)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "out\n", "output on 1")
	c.Equal(p.data(2), "err\n", "output on 2")
}

func procExitedPrompt(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.onExited = func(gyre.ExitStatus) {
		if p.lost[1] > 0 || p.lost[2] > 0 {
			e.fail("the pipes were closed before ProcessExited, yet a grandchild holds them")
		}
		if p.data(1) != "" {
			e.fail("output %q before the grandchild was told to write", p.data(1))
		}
		// Let the grandchild write and go.
		p.mustWrite([]byte("go\n"))
	}
	// The grandchild keeps 1 and 2, and reads the parent's line on 3.
	path, args := e.sh(`exec 3<&0; (read x <&3; echo late) & exit 3`)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(3, 0)
	c.Equal(p.data(1), "late\n", "the grandchild's output")
	exited, data := procIndex(p.events, "exited"), procIndex(p.events, "data:1")
	c.True(exited >= 0 && exited < data, "events %v: want ProcessExited before the grandchild's output", p.events)
}

func procEndedAfterOutput(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(`i=0; while [ $i -lt 300 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; exit 0`)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	var out, errs strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&out, "out %d\n", i)
		fmt.Fprintf(&errs, "err %d\n", i)
	}
	c.True(p.data(1) == out.String(), "output on 1: %d bytes, want %d", len(p.data(1)), out.Len())
	c.True(p.data(2) == errs.String(), "output on 2: %d bytes, want %d", len(p.data(2)), errs.Len())
	if n := len(p.events); n == 0 || p.events[n-1] != "ended" {
		c.Errorf("events %v: want ProcessEnded last", p.events)
	}
}

func procStatus(c *C, script string, code int, sig syscall.Signal) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh(script)
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(code, sig)
	if len(p.exited) != 1 || len(p.ended) != 1 {
		return
	}
	s := p.ended[0]
	procStatusIs(c, "ProcessExited", p.exited[0], code, sig)
	if code == 0 {
		c.True(s.Success(), "Success() = false for %+v", s)
		c.NoErr(s.Err(), "Err()")
		c.Equal(s.String(), "exit status 0", "String()")
		return
	}
	c.True(!s.Success(), "Success() = true for %+v", s)
	err := s.Err()
	c.ErrIs(err, gyre.ErrProcessFailed, "Err()")
	var ee *gyre.ExitError
	if !errors.As(err, &ee) || ee.Status != s {
		c.Errorf("Err() = %v, want an *ExitError holding %+v", err, s)
	}
	if sig != 0 {
		c.True(strings.HasPrefix(s.String(), "signal: "), "String() = %q, want it to name the signal", s.String())
	} else {
		c.Equal(s.String(), "exit status "+strconv.Itoa(code), "String()")
	}
}

func procSignal(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	p.onMade = func() {
		c.NoErr(p.signal(0), "Signal(0) to a running child")
		c.NoErr(p.signal(syscall.SIGTERM), "Signal(SIGTERM)")
	}
	e.spawn(p, cat, []string{"cat"}, nil)
	e.run()
	p.endedWith(-1, syscall.SIGTERM)
}

func procSignalAfterEnded(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.onExited = func(gyre.ExitStatus) {
		c.ErrIs(p.signal(syscall.SIGTERM), gyre.ErrProcessExited, "Signal in ProcessExited")
	}
	p.onEnded = func(gyre.ExitStatus) {
		c.ErrIs(p.signal(syscall.SIGTERM), gyre.ErrProcessExited, "Signal in ProcessEnded")
		c.ErrIs(p.signal(0), gyre.ErrProcessExited, "Signal(0) in ProcessEnded")
	}
	path, args := e.sh("exit 0")
	t := e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.ErrIs(t.Signal(syscall.SIGKILL), gyre.ErrProcessExited, "Signal after Run returned")
}

func procSignalNotNoticed(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	path, args := e.sh("exit 4")
	t := e.spawn(p, path, args, nil)
	// The reactor has not run: it cannot have noticed the exit.
	if err := procWaitExited(t.Pid()); err != nil {
		c.Fatalf("waiting for the child to exit: %v", err)
	}
	c.ErrIs(t.Signal(syscall.SIGKILL), gyre.ErrProcessExited, "Signal to a child that exited unnoticed")
	c.Equal(len(p.exited), 0, "ProcessExited calls from inside Signal")
	e.run()
	p.endedWith(4, 0)
}

func procPid(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.onExited = func(gyre.ExitStatus) {
		c.Equal(p.t.Pid(), p.pid, "Pid() in ProcessExited")
	}
	path, args := e.sh("echo $$")
	t := e.spawn(p, path, args, nil)
	c.Equal(t.Pid(), p.pid, "Pid() after SpawnProcess")
	e.run()
	p.endedWith(0, 0)
	c.Equal(strings.TrimSpace(p.data(1)), strconv.Itoa(p.pid), "the child's own process id")
	c.Equal(t.Pid(), 0, "Pid() after ProcessEnded")
}

func procConcurrent(c *C) {
	e := procStart(c)
	const n = 16
	ps := make([]*procProto, n)
	e.whenRunning(func() {
		for i := range ps {
			ps[i] = e.proto(fmt.Sprintf("child %d", i)).stopOnEnded()
			path, args := e.sh(`echo "child $1"; echo "err $1" >&2; exit $1`, strconv.Itoa(i))
			e.spawnOnLoop(ps[i], path, args, nil)
		}
	})
	e.run()
	for i, p := range ps {
		if p == nil {
			continue
		}
		p.endedWith(i, 0)
		c.Equal(p.data(1), fmt.Sprintf("child %d\n", i), p.name+": output on 1")
		c.Equal(p.data(2), fmt.Sprintf("err %d\n", i), p.name+": output on 2")
	}
}

func procCoexist(c *C) {
	e := procStart(c)
	sh, _ := e.sh("")
	// One os/exec child exits before the reactor reaps anything; another
	// exits while it reaps.
	early := exec.Command(sh, "-c", "exit 7")
	if err := early.Start(); err != nil {
		c.Fatalf("starting an os/exec child: %v", err)
	}
	late := exec.Command(sh, "-c", "read x; exit 9")
	lateIn, err := late.StdinPipe()
	if err != nil {
		c.Fatalf("StdinPipe: %v", err)
	}
	if err := late.Start(); err != nil {
		c.Fatalf("starting an os/exec child: %v", err)
	}
	if err := procWaitExited(early.Process.Pid); err != nil {
		c.Fatalf("waiting for the os/exec child to exit: %v", err)
	}
	ps := make([]*procProto, 4)
	for i := range ps {
		ps[i] = e.proto(fmt.Sprintf("child %d", i)).stopOnEnded()
		path, args := e.sh(`read x; exit $1`, strconv.Itoa(i))
		e.spawn(ps[i], path, args, nil)
	}
	e.whenRunning(func() {
		// The os/exec child exits between the reactor's children.
		ps[0].mustCloseStdin()
		ps[0].onEnded = func(gyre.ExitStatus) {
			lateIn.Close()
			for _, p := range ps[1:] {
				p.mustCloseStdin()
			}
		}
	})
	e.run()
	for i, p := range ps {
		p.endedWith(i, 0)
	}
	for _, k := range []struct {
		cmd  *exec.Cmd
		code int
	}{{early, 7}, {late, 9}} {
		err := k.cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != k.code {
			c.Errorf("os/exec Wait: %v, want exit status %d (the reactor must not reap children it did not start)", err, k.code)
		}
	}
}

// procPTYOpts asks for a terminal.
func procPTYOpts(rows, cols uint16) *gyre.SpawnOptions {
	return &gyre.SpawnOptions{PTY: &gyre.PTYOptions{Rows: rows, Cols: cols}}
}

func procPTY(c *C) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.pipes = nil
	wrote := false
	p.onData = func(fd int, b []byte) {
		if fd != 1 {
			e.fail("terminal output arrived on %d, want 1", fd)
		}
		if !wrote && strings.Contains(p.data(1), "ready") {
			wrote = true
			p.mustWrite([]byte("hello\n"))
		}
	}
	p.onMade = func() {
		c.ErrIs(p.closeStdin(), gyre.ErrUnknownChildFD, "CloseStdin on a terminal")
		c.ErrIs(p.closeFD(1), gyre.ErrUnknownChildFD, "CloseChildFD(1) on a terminal")
	}
	path, args := e.sh(`for n in 0 1 2; do [ -t $n ] && echo "tty:$n"; done; ` +
		`if (: </dev/tty) 2>/dev/null; then echo ctty; fi; echo ready; read line; echo "got:$line"`)
	e.spawn(p, path, args, procPTYOpts(0, 0))
	e.run()
	p.endedWith(0, 0)
	out := strings.ReplaceAll(p.data(1), "\r", "")
	for _, want := range []string{"tty:0\n", "tty:1\n", "tty:2\n", "ctty\n", "got:hello\n"} {
		c.True(strings.Contains(out, want), "terminal output %q lacks %q", out, want)
	}
	c.Equal(len(p.order), 0, "ChildConnectionLost calls for a terminal")
}

func procPTYLose(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	p := e.proto("child").stopOnEnded()
	p.pipes = nil
	p.onData = func(fd int, b []byte) {
		if strings.Contains(p.data(1), "ping") {
			// cat is running: closing the terminal hangs it up.
			p.call("LoseConnection", p.t.LoseConnection)
		}
	}
	p.onMade = func() { p.mustWrite([]byte("ping\n")) }
	e.spawn(p, cat, []string{"cat"}, procPTYOpts(0, 0))
	e.run()
	if len(p.ended) != 1 {
		c.Errorf("ProcessEnded calls: %d, want 1", len(p.ended))
	}
	c.Equal(len(p.order), 0, "ChildConnectionLost calls for a terminal")
}

func procPTYSize(c *C) {
	e := procStart(c)
	stty := e.prog("stty")
	p := e.proto("child").stopOnEnded()
	p.pipes = nil
	e.spawn(p, stty, []string{"stty", "size"}, procPTYOpts(31, 97))
	e.run()
	p.endedWith(0, 0)
	c.Equal(strings.TrimSpace(p.data(1)), "31 97", "stty size")
}

func procLoop(c *C) {
	e := procStart(c)
	cat := e.prog("cat")
	first := e.proto("first")
	second := e.proto("second").stopOnEnded()
	first.onMade = func() {
		first.mustWrite([]byte("ping\n"))
		first.mustCloseStdin()
	}
	first.onEnded = func(gyre.ExitStatus) {
		// A child spawned from a protocol method of another.
		e.spawnOnLoop(second, cat, []string{"cat"}, nil)
		if second.t != nil {
			second.mustWrite([]byte("pong\n"))
			second.mustCloseStdin()
		}
	}
	e.whenRunning(func() { e.spawnOnLoop(first, cat, []string{"cat"}, nil) })
	e.run()
	first.endedWith(0, 0)
	second.endedWith(0, 0)
	c.Equal(first.data(1), "ping\n", "first child's output")
	c.Equal(second.data(1), "pong\n", "second child's output")
}

// procPanicking is a procProto whose method named in panics panics once.
type procPanicking struct {
	*procProto
	in string
}

func (p procPanicking) ConnectionMade(t gyre.ProcessTransport) {
	p.procProto.ConnectionMade(t)
	p.maybe("ConnectionMade")
}

func (p procPanicking) ChildDataReceived(fd int, b []byte) {
	p.procProto.ChildDataReceived(fd, b)
	if fd == 1 && p.data(1) == "one\n" {
		p.maybe("ChildDataReceived")
	}
}

func (p procPanicking) ProcessExited(s gyre.ExitStatus) {
	p.procProto.ProcessExited(s)
	p.maybe("ProcessExited")
}

func (p procPanicking) ProcessEnded(s gyre.ExitStatus) {
	p.procProto.ProcessEnded(s)
	p.maybe("ProcessEnded")
}

func (p procPanicking) maybe(method string) {
	if method == p.in {
		panic("gyre-test: deliberate panic in " + method)
	}
}

func procPanic(c *C, in string) {
	e := procStart(c)
	p := e.proto("child").stopOnEnded()
	p.onData = func(fd int, b []byte) {
		if fd == 1 && p.data(1) == "one\n" {
			p.mustWrite([]byte("go\n"))
		}
	}
	path, args := e.sh(`echo one; read x; echo two`)
	p.spawning = true
	p.pipes = []int{0, 1, 2}
	t, err := c.Processes.SpawnProcess(procPanicking{p, in}, path, args, nil)
	p.spawning = false
	if err != nil || t == nil {
		c.Fatalf("SpawnProcess with a protocol that panics in %s: transport %v, error %v; want a transport", in, t, err)
	}
	e.run()
	p.endedWith(0, 0)
	c.Equal(p.data(1), "one\ntwo\n", "output on 1")
	c.Equal(t.Pid(), 0, "Pid() after ProcessEnded")
	found := false
	for _, r := range c.Logs() {
		if r.Level == slog.LevelError && strings.Contains(r.Attrs["panic"], "deliberate panic in "+in) {
			found = true
			c.True(r.Attrs["stack"] != "", "the panic's log record has no stack")
		}
	}
	c.True(found, "no Error record with the panic value was logged (records: %v)", c.Logs())
}

// procShutdownTrigger records, in a user During "shutdown" trigger, what p
// had seen by then.
func procShutdownTrigger(c *C, p *procProto) *[]string {
	var seen []string
	_, err := c.R.AddSystemEventTrigger(gyre.During, gyre.Shutdown, func() *deferred.Deferred {
		seen = append([]string(nil), p.events...)
		return nil
	})
	if err != nil {
		c.Fatalf("AddSystemEventTrigger: %v", err)
	}
	return &seen
}

func procShutdownRunning(c *C) {
	e := procStart(c)
	defer e.finish()
	cat := e.prog("cat")
	file := filepath.Join(e.tempDir(), "survived")
	p := e.proto("child")
	var t gyre.ProcessTransport
	e.whenRunning(func() {
		path, args := e.sh(`"$1" >/dev/null; echo survived > "$2"`, cat, file)
		t = e.spawnOnLoop(p, path, args, nil)
		if t != nil {
			p.mustWrite([]byte("buffered?"))
		}
		c.NoErr(c.R.Stop(), "Stop")
	})
	seen := procShutdownTrigger(c, p)
	c.NoErr(c.Run(), "Run")
	e.ran = true
	if t == nil {
		return
	}
	lost := 0
	for _, ev := range *seen {
		if strings.HasPrefix(ev, "lost:") {
			lost++
		}
		if ev == "exited" || ev == "ended" {
			c.Errorf("a running child got %s during shutdown (events %v)", ev, *seen)
		}
	}
	c.Equal(lost, 3, "ChildConnectionLost calls before the users' During trigger")
	c.Equal(t.Pid(), 0, "Pid() after the reactor stopped")
	c.ErrIs(t.Signal(syscall.SIGTERM), gyre.ErrStopped, "Signal after the reactor stopped")
	// The child was not killed: it saw end of file and finished its script.
	if got, ok := procWaitFile(file, "survived"); !ok {
		c.Errorf("the child did not finish after the reactor stopped (file holds %q)", got)
	}
	e.finish()
}

func procShutdownExited(c *C) {
	e := procStart(c)
	p := e.proto("child")
	path, args := e.sh(`echo bye; exit 5`)
	t := e.spawn(p, path, args, nil)
	if err := procWaitExited(t.Pid()); err != nil {
		c.Fatalf("waiting for the child to exit: %v", err)
	}
	seen := procShutdownTrigger(c, p)
	// Shut down a reactor that never ran: no pass of the loop can notice
	// the exit before the reactor's own shutdown step does.
	c.NoErr(c.R.FireSystemEvent(gyre.Shutdown), "FireSystemEvent(shutdown)")
	e.ran = true
	if n := len(*seen); n == 0 || (*seen)[n-1] != "ended" {
		c.Errorf("events before the users' During trigger: %v, want ProcessEnded last", *seen)
	}
	p.endedWith(5, 0)
	c.Equal(len(p.order), 3, "ChildConnectionLost calls")
}

func procShutdownGrandchild(c *C) {
	e := procStart(c)
	p := e.proto("child")
	p.onExited = func(gyre.ExitStatus) { c.NoErr(c.R.Stop(), "Stop") }
	// The grandchild holds every pipe until its standard input closes.
	path, args := e.sh(`exec 3<&0; (read x <&3) & exit 0`)
	e.spawn(p, path, args, nil)
	seen := procShutdownTrigger(c, p)
	c.NoErr(c.Run(), "Run")
	e.ran = true
	if n := len(*seen); n == 0 || (*seen)[n-1] != "ended" {
		c.Errorf("events before the users' During trigger: %v, want ProcessEnded last", *seen)
	}
	p.endedWith(0, 0)
	e.finish()
}

func procVolumeFrom(c *C) {
	e := procStart(c)
	yes, head := e.prog("yes"), e.prog("head")
	const line = "0123456789abcdefghijklmnopqrstu\n"
	p := e.proto("child").stopOnEnded()
	p.drop = true
	got, bad := 0, -1
	p.onData = func(fd int, b []byte) {
		if fd != 1 {
			return
		}
		for i, x := range b {
			if bad < 0 && x != line[(got+i)%len(line)] {
				bad = got + i
			}
		}
		got += len(b)
	}
	path, args := e.sh(`"$1" 0123456789abcdefghijklmnopqrstu | "$2" -c "$3"`, yes, head, strconv.Itoa(procVolume))
	e.spawn(p, path, args, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(got, procVolume, "bytes delivered before ProcessEnded")
	c.True(bad < 0, "byte %d differs from what the child wrote", bad)
}

func procVolumeTo(c *C) {
	e := procStart(c)
	wc := e.prog("wc")
	p := e.proto("child").stopOnEnded()
	p.onMade = func() {
		p.mustWrite(procPattern(procVolume))
		p.mustCloseStdin()
	}
	e.spawn(p, wc, []string{"wc", "-c"}, nil)
	e.run()
	p.endedWith(0, 0)
	c.Equal(strings.TrimSpace(p.data(1)), strconv.Itoa(procVolume), "bytes the child counted")
}

// procIndex returns the position of ev in events, or -1.
func procIndex(events []string, ev string) int {
	for i, x := range events {
		if x == ev {
			return i
		}
	}
	return -1
}
