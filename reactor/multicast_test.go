package reactor_test

import (
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// netnsScript prepares the private network namespace that unshare -n made
// and then runs the command given after it. The loopback interface is the
// only way out, and multicast groups are routed to it; if the system has the
// ifb device, a sink interface (gyre0, which drops whatever is sent through
// it) is added with its own address and groups 239.255.0.0/16, so that the
// loopback-mode cases can tell the local copy of a multicast datagram from
// the one the loopback interface delivers anyway. See dgNetns in
// reactortest/dgramutil.go, which checks all this before any traffic.
const netnsScript = `ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo && ` +
	`{ ip link add gyre0 type ifb && ip link set gyre0 up multicast on && ` +
	`ip addr add 10.255.0.1/32 dev gyre0 && ip route add 239.255.0.0/16 dev gyre0 || true; } && exec "$@"`

// netnsCases selects the conformance cases that send multicast or broadcast
// traffic, which run only inside the namespace.
const netnsCases = `^TestConformance$/.*/(multicast\.|udp\.broadcast)`

// TestMulticastNamespace runs the multicast cases (and the broadcast case)
// of the conformance suite inside a private network namespace, where nothing
// they send can leave the machine: it re-executes this test binary under
// unshare -n with GYRE_NETNS=1 set. It needs Linux, unshare (util-linux), ip
// (iproute2) and the right to make a namespace (root); without them it is
// skipped.
func TestMulticastNamespace(t *testing.T) {
	if os.Getenv("GYRE_NETNS") == "1" {
		t.Skip("already inside the private network namespace")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("private network namespaces need Linux, not %s", runtime.GOOS)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("unshare (util-linux) is not available: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("ip (iproute2) is not available: %v", err)
	}
	if out, err := exec.Command(unshare, "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make a private network namespace (unshare -n needs root): %v: %s", err, strings.TrimSpace(string(out)))
	}
	args := []string{"-n", "sh", "-c", netnsScript, "sh", os.Args[0],
		"-test.run", netnsCases, "-test.v", "-test.count=1", "-test.timeout=10m"}
	cmd := exec.Command(unshare, args...)
	cmd.Env = append(os.Environ(), "GYRE_NETNS=1")
	out, err := cmd.CombinedOutput()
	t.Logf("unshare %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("the multicast cases failed inside the namespace: %v", err)
	}
	passed := regexp.MustCompile(`(?m)^\s*--- PASS: TestConformance/[^/]+/multicast\.`).FindAll(out, -1)
	skipped := regexp.MustCompile(`(?m)^\s*--- SKIP: TestConformance/[^/]+/multicast\.`).FindAll(out, -1)
	t.Logf("%d multicast cases passed and %d were skipped inside the namespace", len(passed), len(skipped))
	if len(passed) == 0 && len(skipped) == 0 {
		t.Errorf("no multicast case ran inside the namespace")
	}
}
