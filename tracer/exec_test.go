package tracer

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/rustscope/rustscope/bpf"
)

// A target from its exec keeps its spans until it is attached, then emits
// them in order before any later one; a released one's are dropped; a
// process that is not one passes through.
func TestEarlySpans(t *testing.T) {
	tr := &Tracer{log: slog.New(slog.DiscardHandler), targets: map[uint32]*Target{}, watched: map[exeID]string{}, early: map[uint32]*early{}}
	var execs []Exec
	tr.onExec = func(e Exec) { execs = append(execs, e) }
	tr.watched[exeID{dev: 8<<20 | 1, ino: 42}] = "/srv/app"
	var got []Span
	emit := tr.holdEarly(func(s Span) { got = append(got, s) })

	tr.execed(7, &bpf.WireExecEvent{Head: bpf.WireEventHead{Ts: 100}, Dev: 8<<20 | 1, Ino: 42, Targeted: 1})
	tr.execed(8, &bpf.WireExecEvent{Head: bpf.WireEventHead{Ts: 100}, Dev: 8<<20 | 1, Ino: 43, Targeted: 1})
	tr.execed(9, &bpf.WireExecEvent{Head: bpf.WireEventHead{Ts: 100}, Dev: 8<<20 | 1, Ino: 44})
	if len(execs) != 3 || execs[0] != (Exec{PID: 7, Targeted: true, Exe: "/srv/app"}) || !execs[1].Targeted || execs[2].Targeted {
		t.Fatalf("execs %+v", execs)
	}
	emit(Span{PID: 7, Name: "a"})
	emit(Span{PID: 8, Name: "x"})
	emit(Span{PID: 9, Name: "other"})
	emit(Span{PID: 7, Name: "b"})
	if len(got) != 1 || got[0].Name != "other" {
		t.Fatalf("before attach: %+v", got)
	}
	tr.settleEarly(emit, 200)
	if len(got) != 1 {
		t.Fatalf("settled before attach: %+v", got)
	}
	tr.mu.Lock()
	tr.targets[7] = &Target{PID: 7}
	tr.early[8].done = true // released
	tr.mu.Unlock()
	tr.settleEarly(emit, 250)
	if len(got) != 1 {
		t.Fatalf("settled once attached, before admitted: %+v", got)
	}
	tr.Admit(7)
	emit(Span{PID: 7, Name: "c"}) // attached, not settled yet: after a and b
	tr.settleEarly(emit, 300)
	emit(Span{PID: 7, Name: "d"})
	emit(Span{PID: 8, Name: "y"}) // released: no longer kept
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "other a b c d y"; got != want {
		t.Errorf("spans %q, want %q", got, want)
	}
	if tr.nEarly.Load() != 0 || len(tr.early) != 0 {
		t.Errorf("%d early targets left", len(tr.early))
	}
}
