//! Small helpers shared by every test app (included with `#[path]`, std + tokio only, so they build
//! with both trixie's tokio 1.43 and bookworm's tokio 1.24).
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, Write};

/// Minimal `--key value` / `--key=value` / `--flag` parser.
pub struct Args {
    values: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

impl Args {
    /// `bool_flags`: options that take no value (e.g. "wait", "mix").
    pub fn parse(bool_flags: &[&str], usage: &str) -> Args {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut flags = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = a.strip_prefix("--") else { die(usage, &format!("unexpected argument {a:?}")) };
            if let Some((k, v)) = name.split_once('=') {
                values.entry(k.to_string()).or_default().push(v.to_string());
            } else if bool_flags.contains(&name) {
                flags.push(name.to_string());
            } else {
                let v = it.next().unwrap_or_else(|| die(usage, &format!("--{name} needs a value")));
                values.entry(name.to_string()).or_default().push(v);
            }
        }
        Args { values, flags }
    }
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
    pub fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }
    pub fn get_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_string())
    }
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }
    pub fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| die("", &format!("--{name}: bad number {v:?}"))),
        }
    }
}

pub fn die(usage: &str, msg: &str) -> ! {
    eprintln!("error: {msg}");
    if !usage.is_empty() {
        eprintln!("{usage}");
    }
    std::process::exit(2)
}

/// Print exactly `listening on <ip>:<port>` on stdout and flush it (tests parse this line).
pub fn print_listening(addr: std::net::SocketAddr) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {addr}");
    let _ = out.flush();
}

/// SIGTERM / SIGINT: exit(0) right away (servers run until killed).
pub fn exit_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        std::process::exit(0);
    });
}

fn say(word: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{word}");
    let _ = out.flush();
}

fn read_stdin_line() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line); // a line or EOF
}

/// `--wait`, before the traffic: print `ready`, then block until one stdin line (or EOF).
pub async fn wait_ready() {
    say("ready");
    let _ = tokio::task::spawn_blocking(read_stdin_line).await;
}

/// `--wait`, after the traffic: print `done`, then block until one stdin line (or EOF).
pub async fn wait_done() {
    say("done");
    let _ = tokio::task::spawn_blocking(read_stdin_line).await;
}
