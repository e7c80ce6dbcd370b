package process

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestRunning: a process killed but not yet reaped (a zombie) counts as
// exited, as does one that is gone.
func TestRunning(t *testing.T) {
	if !Running(os.Getpid()) {
		t.Fatal("this process is not running?")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Running(pid) {
		t.Fatal("sleep is not running")
	}
	cmd.Process.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for Running(pid) { // a zombie until Wait
		if time.Now().After(deadline) {
			t.Fatal("a killed, unreaped process still counts as running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if Running(pid) {
		t.Fatal("a reaped process counts as running")
	}
}
