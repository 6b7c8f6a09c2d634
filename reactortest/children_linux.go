//go:build linux

package reactortest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listChildren returns the children of this process, read from /proc: each
// thread's children file where the kernel provides one, otherwise a scan of
// every process's parent. It returns nil if /proc cannot tell.
func listChildren() map[int]childProc {
	self := os.Getpid()
	out := make(map[int]childProc)
	files, _ := filepath.Glob("/proc/self/task/*/children")
	if len(files) > 0 {
		ok := false
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue // the thread has gone
			}
			ok = true
			for _, field := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(field); err == nil {
					if p, found := procStat(pid); found {
						out[pid] = p.childProc
					}
				}
			}
		}
		if ok {
			return out
		}
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, found := procStat(pid); found && p.ppid == self {
			out[pid] = p.childProc
		}
	}
	return out
}

type procInfo struct {
	childProc
	ppid int
}

// procStat reads /proc/PID/stat: "pid (comm) state ppid ...", where comm may
// itself hold spaces and parentheses.
func procStat(pid int) (procInfo, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procInfo{}, false
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 || len(rest[0]) == 0 {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(rest[1])
	return procInfo{childProc{pid: pid, comm: s[open+1 : end], state: rest[0][0]}, ppid}, true
}
