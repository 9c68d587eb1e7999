//! Runs a command to its end and keeps what it printed: the one runner of the tests.

use crate::harness::monlab_command;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a command run to its end may take unless a test says otherwise: far above what
/// any takes here (a few seconds), so that a hang fails the test instead of stalling the suite.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A command that ran to its end.
#[derive(Debug)]
pub struct Ran {
    /// What was run, for failure messages.
    pub command: String,
    /// The exit code (-1 when a signal ended it).
    pub code: i32,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Ran {
    /// Fails the test with the command and all it printed unless it exited 0; returns stdout.
    pub fn success(self) -> String {
        assert!(
            self.code == 0,
            "{} failed (exit {}):\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.code,
            self.stdout,
            self.stderr
        );
        self.stdout
    }

    /// stdout, then stderr.
    pub fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `cmd` to its end within [`RUN_LIMIT`].
pub fn run(cmd: Command) -> Ran {
    run_within(cmd, RUN_LIMIT)
}

/// Runs `monlab <args>` (scrubbed environment, see [`monlab_command`]) with `env` added, to
/// its end within [`RUN_LIMIT`].
pub fn run_monlab(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = monlab_command(args);
    cmd.envs(env.iter().copied());
    run(cmd)
}

/// Runs `cmd` with no input; fails the test, killing it, if it has not ended within `limit`.
pub fn run_within(cmd: Command, limit: Duration) -> Ran {
    run_fed(cmd, None, limit)
}

/// Runs `cmd` with `input` on its stdin, to its end within [`RUN_LIMIT`].
pub fn run_with_input(cmd: Command, input: &str) -> Ran {
    run_fed(cmd, Some(input.as_bytes().to_vec()), RUN_LIMIT)
}

fn run_fed(mut cmd: Command, input: Option<Vec<u8>>, limit: Duration) -> Ran {
    let command = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Written on a thread of its own, so that a child that answers before it has read
        // everything never blocks the test; dropping stdin then ends its input.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = Pipe::read(child.stdout.take().map(|s| Box::new(s) as _));
    let stderr = Pipe::read(child.stderr.take().map(|s| Box::new(s) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("{command}: {e}"))
        {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command} did not end within {limit:?}:\n--- stdout\n{}\n--- stderr\n{}",
                stdout.so_far(),
                stderr.so_far()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        command,
        code: status.code().unwrap_or(-1),
        stdout: stdout.finish(),
        stderr: stderr.finish(),
    }
}

/// One output stream of a child, read on a thread of its own while the child runs, so that
/// a full pipe never blocks it.
struct Pipe {
    text: Arc<Mutex<Vec<u8>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Pipe {
    fn read(stream: Option<Box<dyn Read + Send>>) -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = text.clone();
        let reader = std::thread::spawn(move || {
            let Some(mut stream) = stream else { return };
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self { text, reader }
    }

    /// What was read so far (a child it outlived may still hold the pipe open).
    fn so_far(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }

    /// Everything, once the stream has ended.
    fn finish(self) -> String {
        self.reader.join().expect("the pipe reader does not panic");
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }
}
