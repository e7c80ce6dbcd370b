package e2e

import (
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// TestE2EClientMatrixUnderLoad runs the client matrix while another
// process keeps every core busy and the clients run at a lower priority,
// as a service does on a loaded production host: a traced thread is then
// often kept off the CPU for tens of milliseconds between a syscall and
// the library probe that follows it, and enrichment must not depend on
// how long. Before the fix, each of three runs of this test had reqwest
// spans that lost their scope (rustscope/wire instead of reqwest).
func TestE2EClientMatrixUnderLoad(t *testing.T) {
	needE2E(t)
	busy(t, runtime.NumCPU())
	clientMatrix(t, func(pid int) { renice(t, pid, 10) })
}

// busy starts one process that spins n loops at normal priority until the
// test ends.
func busy(t *testing.T, n int) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt `+strconv.Itoa(n)+` ]; do (while :; do :; done) & i=$((i+1)); done; wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start busy loops: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
}
