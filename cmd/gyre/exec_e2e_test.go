//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gyre-go/gyre"
	"github.com/gyre-go/gyre/reactor"
)

// processBackends returns the backends that can start processes, skipping
// the test if none can.
func processBackends(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, name := range reactor.Backends() {
		r, err := reactor.NewBackend(name)
		if err != nil {
			continue
		}
		if _, ok := r.(gyre.Processes); ok {
			names = append(names, name)
		}
		_ = r.FireSystemEvent(gyre.Shutdown)
	}
	if len(names) == 0 {
		t.Skip("no backend here implements gyre.Processes")
	}
	return names
}

// runExec runs gyre exec with args to the end and returns its stdout, its
// stderr and its exit code.
func runExec(t *testing.T, args ...string) (*output, *output, int) {
	t.Helper()
	p := newProc("gyre exec", append([]string{gyreBin, "exec"}, args...)...)
	p.start(t)
	err := p.waitExit(t, exitTimeout, "its commands ended")
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("gyre exec: %v", err)
	}
	return p.stdout, p.stderr, code
}

// endedStatuses returns the status that each child's "child ended" log line
// reports, by child number.
func endedStatuses(stderr *output) map[int]string {
	out := map[int]string{}
	for _, line := range stderr.lines() {
		if logAttr(line, "msg") != "child ended" {
			continue
		}
		n, _ := strconv.Atoi(logAttr(line, "child"))
		out[n] = logAttr(line, "status")
	}
	return out
}

// prefixed returns the lines of o that carry prefix, without it, in order.
func prefixed(o *output, prefix string) []string {
	var out []string
	for _, line := range o.lines() {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// TestExec runs three commands at once, one given after "--": their output
// comes prefixed on the right stream, a last line without a newline gets
// one, each exit status is reported, and one failure makes the exit status
// 1.
func TestExec(t *testing.T) {
	for _, backend := range processBackends(t) {
		t.Run(backend, func(t *testing.T) {
			stdout, stderr, code := runExec(t, "-backend", backend,
				"-c", `sh -c 'echo out1; echo err1 >&2; printf "no newline"'`,
				"-c", `sh -c 'echo quoted: "$0" "$1"; exit 3' "a  b" 'c"d'`,
				"--", "sh", "-c", `for i in 1 2 3; do echo line$i; done`)
			if code != 1 {
				t.Errorf("exit status %d, want 1 (child 2 failed)\nstderr:\n%s", code, stderr)
			}
			checks := []struct {
				o      *output
				prefix string
				want   []string
			}{
				{stdout, "[1 sh] ", []string{"out1", "no newline"}},
				{stderr, "[1 sh] ", []string{"err1"}},
				{stdout, "[2 sh] ", []string{`quoted: a  b c"d`}},
				{stdout, "[3 sh] ", []string{"line1", "line2", "line3"}},
			}
			for _, c := range checks {
				if got := prefixed(c.o, c.prefix); !slices.Equal(got, c.want) {
					t.Errorf("lines %q: got %q, want %q\nstdout:\n%s\nstderr:\n%s", c.prefix, got, c.want, stdout, stderr)
				}
			}
			for _, line := range stdout.lines() {
				if !strings.HasPrefix(line, "[") {
					t.Errorf("stdout line without a prefix: %q", line)
				}
			}
			want := map[int]string{1: "exit status 0", 2: "exit status 3", 3: "exit status 0"}
			if got := endedStatuses(stderr); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("statuses %v, want %v\nstderr:\n%s", got, want, stderr)
			}
		})
	}
}

// TestExecLinesWhole has two children write their lines in two pieces each
// while the other writes too: every printed line must still be whole, and
// each child's lines in order.
func TestExecLinesWhole(t *testing.T) {
	const n = 300
	script := fmt.Sprintf(`i=0; while [ $i -lt %d ]; do printf "%%s" "$0$i-"; printf "%%s\n" "end"; i=$((i+1)); done`, n)
	re := regexp.MustCompile(`^\[([12]) sh\] ([ab])([0-9]+)-end$`)
	for _, backend := range processBackends(t) {
		t.Run(backend, func(t *testing.T) {
			stdout, stderr, code := runExec(t, "-backend", backend,
				"-c", "sh -c '"+script+"' a", "-c", "sh -c '"+script+"' b")
			if code != 0 {
				t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, stderr)
			}
			next := map[string]int{}
			lines := stdout.lines()
			for _, line := range lines {
				m := re.FindStringSubmatch(line)
				if m == nil || (m[1] == "1") != (m[2] == "a") {
					t.Fatalf("torn or misattributed line %q", line)
				}
				i, _ := strconv.Atoi(m[3])
				if i != next[m[2]] {
					t.Fatalf("child %s: line %d after %d", m[2], i, next[m[2]]-1)
				}
				next[m[2]]++
			}
			if next["a"] != n || next["b"] != n {
				t.Errorf("got %d and %d lines, want %d each", next["a"], next["b"], n)
			}
			if got := endedStatuses(stderr); got[1] != "exit status 0" || got[2] != "exit status 0" {
				t.Errorf("statuses %v", got)
			}
		})
	}
}

// TestExecAllSucceed: exit status 0; a command that cannot be found makes
// it 1 and is reported, while the others still run.
func TestExecAllSucceed(t *testing.T) {
	for _, backend := range processBackends(t) {
		t.Run(backend, func(t *testing.T) {
			_, stderr, code := runExec(t, "-backend", backend, "-c", "true", "--", "echo", "ok")
			if code != 0 {
				t.Errorf("exit status %d, want 0\nstderr:\n%s", code, stderr)
			}
			stdout, stderr, code := runExec(t, "-backend", backend, "-c", "gyre-no-such-command", "--", "echo", "still runs")
			if code != 1 {
				t.Errorf("exit status %d with a missing command, want 1\nstderr:\n%s", code, stderr)
			}
			if !hasLogMsg(stderr, "cannot start") {
				t.Errorf("no msg=\"cannot start\"\nstderr:\n%s", stderr)
			}
			if got := prefixed(stdout, "[2 echo] "); !slices.Equal(got, []string{"still runs"}) {
				t.Errorf("second command's output %q", got)
			}
		})
	}
}

// TestExecInterrupt sends SIGINT to gyre exec alone (not to its children):
// it terminates the children still running, reports them killed by
// SIGTERM, and exits 1.
func TestExecInterrupt(t *testing.T) {
	for _, backend := range processBackends(t) {
		t.Run(backend, func(t *testing.T) {
			p := newProc("gyre exec", gyreBin, "exec", "-backend", backend,
				"-c", `sh -c 'echo ready; exec sleep 60'`, "-c", "echo quick")
			p.start(t)
			if !p.stdout.waitFor(startTimeout, p.done, func(o *output) bool {
				return slices.Contains(o.lines(), "[1 sh] ready")
			}) {
				t.Fatalf("no ready line\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
			}
			if !p.stderr.waitFor(startTimeout, p.done, func(o *output) bool {
				return endedStatuses(o)[2] != ""
			}) {
				t.Fatalf("the second command did not end\nstderr:\n%s", p.stderr)
			}
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			err := p.waitExit(t, stopTimeout, "SIGINT")
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("exit %v after SIGINT, want status 1", err)
			}
			want := map[int]string{1: "signal: terminated", 2: "exit status 0"}
			if got := endedStatuses(p.stderr); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("statuses %v, want %v\nstderr:\n%s", got, want, p.stderr)
			}
			if !hasLogMsg(p.stderr, "interrupted") {
				t.Errorf("no msg=interrupted\nstderr:\n%s", p.stderr)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]string{
		`ls -l  /`:                {"ls", "-l", "/"},
		`echo 'a  b' "c\"d" e\ f`: {"echo", "a  b", `c"d`, "e f"},
		`x ''`:                    {"x", ""},
		`a'b'"c"`:                 {"abc"},
	} {
		got, err := splitWords(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitWords(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`'open`, `"open`, `trailing\`} {
		if _, err := splitWords(bad); err == nil {
			t.Errorf("splitWords(%q): no error", bad)
		}
	}
}
