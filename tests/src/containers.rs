//! Real containers of kafkadeps' images (`scripts/images.sh build`), run with podman as these
//! machines allow (runc, cgroupfs, host network), each removed when dropped.

use std::process::Command;
use std::time::Duration;

/// Tag of the images under test (`KAFKADEPS_IMAGE_TAG`, set by `scripts/test.sh` after it built
/// them), or `None` when they were not built.
pub fn image_tag() -> Option<String> {
    std::env::var("KAFKADEPS_IMAGE_TAG")
        .ok()
        .filter(|t| !t.is_empty())
}

/// `podman` with the runtime flags these machines need.
pub fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    cmd
}

/// Runs `podman <args>` to the end; its stdout, or a panic with its output.
pub fn podman_ok(args: &[&str]) -> String {
    let out = podman().args(args).output().expect("run podman");
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A running container.
pub struct Container {
    /// Its name.
    pub name: String,
}

impl Container {
    /// Starts `image` with `args` detached on the host network, locked down as a pod runs it:
    /// read-only root filesystem, every capability dropped, no privilege escalation, and the
    /// rlimits these VMs allow (they may only be lowered).
    pub fn run(name: &str, image: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut all = vec![
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            "--pull",
            "never",
        ];
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for e in &env {
            all.extend(["--env", e.as_str()]);
        }
        all.push(image);
        all.extend_from_slice(args);
        podman_ok(&all);
        Self {
            name: name.to_owned(),
        }
    }

    /// `podman inspect --format <format>` of the container.
    pub fn inspect(&self, format: &str) -> String {
        podman_ok(&["inspect", "--format", format, &self.name])
    }

    /// The host pid of its main process.
    pub fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}").parse().expect("pid")
    }

    /// Its output so far.
    pub fn logs(&self) -> String {
        let out = podman()
            .args(["logs", &self.name])
            .output()
            .expect("podman logs");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Sends `signal` (e.g. `TERM`) to its main process.
    pub fn signal(&self, signal: &str) {
        podman_ok(&["kill", "--signal", signal, &self.name]);
    }

    /// Waits for the container to exit; its exit code.
    pub async fn exit_code(&self, deadline: Duration) -> i32 {
        let started = std::time::Instant::now();
        loop {
            if self.inspect("{{.State.Status}}") == "exited" {
                return self
                    .inspect("{{.State.ExitCode}}")
                    .parse()
                    .expect("exit code");
            }
            assert!(
                started.elapsed() < deadline,
                "{} did not exit within {deadline:?}:\n{}",
                self.name,
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "--force", "--time", "0", &self.name])
            .output();
    }
}
