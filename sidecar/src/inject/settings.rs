//! The injector's own settings: its listener, certificate, and the defaults it applies to pods
//! (flags, or `KAFKADEPS_INJECTOR_*` variables).

use std::net::SocketAddr;
use std::path::PathBuf;

/// `kafkadeps-sidecar inject` flags.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InjectArgs {
    /// Address of the HTTPS server.
    #[arg(
        long,
        env = "KAFKADEPS_INJECTOR_LISTEN",
        default_value = "0.0.0.0:8443"
    )]
    pub(crate) listen: SocketAddr,
    /// PEM certificate chain; reloaded when the file changes.
    #[arg(long, env = "KAFKADEPS_INJECTOR_TLS_CERT")]
    pub(crate) tls_cert: PathBuf,
    /// PEM private key; reloaded when the file changes.
    #[arg(long, env = "KAFKADEPS_INJECTOR_TLS_KEY")]
    pub(crate) tls_key: PathBuf,
    /// Bootstrap servers for pods without `kafkadeps.io/bootstrap-servers`.
    #[arg(long, env = "KAFKADEPS_INJECTOR_BOOTSTRAP_SERVERS")]
    pub(crate) bootstrap_servers: Option<String>,
    /// Sidecar image for pods without `kafkadeps.io/sidecar-image`.
    #[arg(long, env = "KAFKADEPS_INJECTOR_SIDECAR_IMAGE", default_value = DEFAULT_IMAGE)]
    pub(crate) sidecar_image: String,
    /// Sidecar CPU request for pods without `kafkadeps.io/sidecar-cpu`.
    #[arg(long, env = "KAFKADEPS_INJECTOR_SIDECAR_CPU", default_value = "50m")]
    pub(crate) sidecar_cpu: String,
    /// Sidecar memory request and limit for pods without `kafkadeps.io/sidecar-memory`.
    #[arg(
        long,
        env = "KAFKADEPS_INJECTOR_SIDECAR_MEMORY",
        default_value = "64Mi"
    )]
    pub(crate) sidecar_memory: String,
    /// The cluster CA Secret (`ca.crt`) for pods without `kafkadeps.io/ca-secret`, e.g. Strimzi's
    /// `<cluster>-cluster-ca-cert` (each namespace needs a copy).
    #[arg(long, env = "KAFKADEPS_INJECTOR_CA_SECRET")]
    pub(crate) ca_secret: Option<String>,
}

/// The image injected unless configured otherwise.
pub(crate) const DEFAULT_IMAGE: &str = concat!("kafkadeps/sidecar:", env!("CARGO_PKG_VERSION"));

/// What the patch needs from the injector's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InjectorSettings {
    pub(crate) bootstrap_servers: Option<String>,
    pub(crate) sidecar_image: String,
    pub(crate) sidecar_cpu: String,
    pub(crate) sidecar_memory: String,
    pub(crate) ca_secret: Option<String>,
}

impl Default for InjectorSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: None,
            sidecar_image: DEFAULT_IMAGE.to_owned(),
            sidecar_cpu: "50m".to_owned(),
            sidecar_memory: "64Mi".to_owned(),
            ca_secret: None,
        }
    }
}

impl From<&InjectArgs> for InjectorSettings {
    fn from(a: &InjectArgs) -> Self {
        Self {
            bootstrap_servers: a.bootstrap_servers.clone().filter(|b| !b.trim().is_empty()),
            sidecar_image: a.sidecar_image.clone(),
            sidecar_cpu: a.sidecar_cpu.clone(),
            sidecar_memory: a.sidecar_memory.clone(),
            ca_secret: a.ca_secret.clone().filter(|c| !c.trim().is_empty()),
        }
    }
}
