package e2e

import (
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// TestE2EClientMatrixUnderLoad runs the client matrix while another
// process keeps every core busy, as on a loaded production host: a
// traced thread is then often kept off the CPU between a syscall and the
// library probe that follows it, and enrichment must not depend on how
// long (a reqwest span once lost its scope that way).
func TestE2EClientMatrixUnderLoad(t *testing.T) {
	needE2E(t)
	busy(t, runtime.NumCPU())
	clientMatrix(t)
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
