package reactortest

import (
	"fmt"
	"sort"
	"strings"
)

// The suite's check for child processes: a case must leave no child of the
// test process behind, running or as a zombie (exited but never reaped).

// childProc is one child process of this process.
type childProc struct {
	pid   int
	comm  string // the program's name, as the system reports it
	state byte   // 'Z' for a zombie; other letters for a live process
}

func (p childProc) String() string {
	if p.state == 'Z' {
		return fmt.Sprintf("%d (%s) left as a zombie: it exited but nobody reaped it", p.pid, p.comm)
	}
	return fmt.Sprintf("%d (%s) still running (state %c)", p.pid, p.comm, p.state)
}

// newChildren returns the children in now that were not in before, by pid.
// Both are nil where the platform does not tell.
func newChildren(before, now map[int]childProc) []childProc {
	var out []childProc
	for pid, p := range now {
		if _, ok := before[pid]; !ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

func describeChildren(ps []childProc) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}
