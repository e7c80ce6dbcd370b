// Package tokio is the home of rustscope's knowledge of the tokio
// runtime's tasks: which task a worker thread polls, which task woke or
// spawned another. That tells which request a handler's client call
// belongs to.
package tokio

import "github.com/rustscope/rustscope/probe"

// Library is tokio's declaration (tokio 1.x). raw::poll is reached
// through a task's vtable, so every build with symbols keeps one copy per
// task type (LTO too); the wakers are not generic.
var Library = probe.Library{
	Crate: "tokio",
	Wants: []probe.Want{
		{ID: "tokio.task.poll", Crate: "tokio", Group: "tokio-tasks",
			Match:   []string{"tokio::runtime::task::raw::poll"},
			Purpose: "a worker thread polls a task (argument: the task)"},
		{ID: "tokio.waker.wake_by_val", Crate: "tokio", Group: "tokio-tasks",
			Match:   []string{"tokio::runtime::task::waker::wake_by_val"},
			Purpose: "a task is woken (argument: the task)"},
		{ID: "tokio.waker.wake_by_ref", Crate: "tokio", Group: "tokio-tasks",
			Match:   []string{"tokio::runtime::task::waker::wake_by_ref"},
			Purpose: "a task is woken through a borrowed waker (argument: the task)"},
		{ID: "tokio.task.bind", Crate: "tokio", Group: "tokio-tasks",
			Match:   []string{"tokio::runtime::task::list::OwnedTasks::bind_inner"},
			Purpose: "a task is spawned (second argument: the task)"},
	},
	// Every one of them is needed for a link. The cookie names the
	// argument register holding the task: the first for the wakers, the
	// second for bind_inner(&self, task, notified). The wake program reads
	// only that one (Args), so a waker that starts with a single-stepped
	// instruction (wake_by_ref: sub $n,%rsp) is probed at a later
	// emulated one.
	Uprobes: []probe.Uprobe{
		{Points: []string{"tokio.task.poll"}, Program: probe.ProgTaskPoll, When: probe.WhileClientCalls, Gives: Gives},
		{Points: []string{"tokio.task.poll"}, Program: probe.ProgTaskPollRet, When: probe.WhileClientCalls, Gives: Gives},
		{Points: []string{"tokio.waker.wake_by_val"}, Program: probe.ProgTaskWake, Cookie: 1, Args: 1, When: probe.WhileClientCalls, Gives: Gives},
		{Points: []string{"tokio.waker.wake_by_ref"}, Program: probe.ProgTaskWake, Cookie: 1, Args: 1, When: probe.WhileClientCalls, Gives: Gives},
		{Points: []string{"tokio.task.bind"}, Program: probe.ProgTaskWake, Cookie: 2, Args: 2, When: probe.WhileClientCalls, Gives: Gives},
	},
}

// Gives is what the task probes add.
const Gives = "parent links for client calls"
