//! A real kube-apiserver + etcd for the webhook tests (`scripts/kube.sh`, built from their Go
//! modules) — with a real node (kubelet, containerd, scheduler, controller manager) for the
//! end-to-end tests — and a webhook certificate made with the `openssl` CLI. Requests go through
//! `curl`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{repo_root, unique};

/// A running API server with its own etcd, stopped when dropped.
pub struct ApiServer {
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
    token: String,
}

/// One API response.
#[derive(Debug)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
    /// `Warning` headers.
    pub warnings: Vec<String>,
}

impl ApiServer {
    /// Starts one (building the binaries on first use).
    pub fn start() -> Self {
        Self::up(&[])
    }

    /// Starts one with the node `kafkadeps-node`, into which podman's `kafkadeps/*:<tag>` images
    /// are imported (`scripts/kube.sh up DIR --node --images <tag>`).
    pub fn start_with_node(tag: &str) -> Self {
        Self::up(&["--node", "--images", tag])
    }

    fn up(args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(unique("kube"));
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/kube.sh"))
            .arg("up")
            .arg(&dir)
            .args(args)
            .output()
            .expect("scripts/kube.sh");
        assert!(
            out.status.success(),
            "the control plane did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let token = std::fs::read_to_string(dir.join("token"))
            .expect("token")
            .trim()
            .to_owned();
        Self { url, dir, token }
    }

    /// `method path` with an optional JSON body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> ApiResponse {
        let headers = self.dir.join(format!("{}.headers", unique("h")));
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "--cacert"])
            .arg(self.dir.join("ca.crt"))
            .arg("-H")
            .arg(format!("Authorization: Bearer {}", self.token))
            .args(["-H", "Content-Type: application/json", "-D"])
            .arg(&headers)
            .args(["-w", "\n%{http_code}"]);
        if let Some(b) = body {
            cmd.arg("--data-binary").arg(b.to_string());
        }
        let out = cmd
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        let warnings = std::fs::read_to_string(&headers)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                l.strip_prefix("warning: ")
                    .or_else(|| l.strip_prefix("Warning: "))
            })
            .map(|w| w.trim().to_owned())
            .collect();
        ApiResponse {
            status: status.trim().parse().unwrap_or(0),
            body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
            warnings,
        }
    }

    /// The kubeconfig of the cluster's admin.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }

    /// The API server's serving CA.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The admin's bearer token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The state directory (`scripts/kube.sh up DIR`); pod logs are under `pod-logs/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `GET path`; panics unless 200.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let r = self.request("GET", path, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.body);
        r.body
    }

    /// Creates an object; panics unless the API server accepted it.
    pub fn create(&self, path: &str, object: &serde_json::Value) -> serde_json::Value {
        let r = self.request("POST", path, Some(object));
        assert_eq!(r.status, 201, "POST {path}: {}", r.body);
        r.body
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/kube.sh"))
            .arg("down")
            .arg(&self.dir)
            .status();
    }
}

/// A CA and a serving certificate for 127.0.0.1, as PEM files in `dir`:
/// (`ca.crt`, `tls.crt`, `tls.key`).
pub fn webhook_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("cert dir");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=kafkadeps-test-ca",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "tls.key",
        "-out",
        "tls.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "tls.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "tls.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"))
}
