package tracer

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const tracefsPath = "/sys/kernel/tracing"

// ensureTracefs mounts tracefs when it is not mounted yet: tracepoint links
// need it to resolve event IDs, and minimal hosts and containers often
// boot without it. The mount is left in place, as bpftrace and perf do.
func ensureTracefs() error {
	if _, err := os.Stat(tracefsPath + "/events"); err == nil {
		return nil
	}
	if err := unix.Mount("nodev", tracefsPath, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("mount tracefs at %s: %w", tracefsPath, err)
	}
	return nil
}
