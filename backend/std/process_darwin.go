package std

import "golang.org/x/sys/unix"

// szomb is the state of a process that has exited and not been reaped
// (sys/proc.h).
const szomb = 5

// exitedUnreaped tells whether the child pid has exited, reaped or not,
// from the kernel's process table, without reaping it. A pid the kernel no
// longer knows has been reaped.
func exitedUnreaped(pid int) bool {
	kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return err == unix.EIO // no such process (an empty answer)
	}
	return kp.Proc.P_pid != int32(pid) || kp.Proc.P_stat == szomb
}
