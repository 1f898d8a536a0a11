//! `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_*` and `KAFKA_SSL_*`, resolved and checked together:
//! a mechanism needs a SASL protocol, credentials need a mechanism that uses them, a password
//! comes from the variable or its file (not both), mutual TLS needs both its files.

use super::Secret;
use super::error::Problems;
use super::model::{SaslMechanism, Security, SecurityProtocol};
use super::vars::{self, RawVars};

/// The security settings of `raw`, checked together.
pub(super) fn resolve(raw: &RawVars, problems: &mut Problems) -> Security {
    let protocol =
        raw.security_protocol
            .as_deref()
            .and_then(|p| match p.parse::<SecurityProtocol>() {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(vars::SECURITY_PROTOCOL, e);
                    None
                }
            });
    let mechanism = raw
        .sasl_mechanism
        .as_deref()
        .and_then(|m| match m.parse::<SaslMechanism>() {
            Ok(m) => Some(m),
            Err(e) => {
                problems.push(vars::SASL_MECHANISM, e);
                None
            }
        });
    if mechanism == Some(SaslMechanism::Gssapi) && !cfg!(feature = "gssapi") {
        problems.push(
            vars::SASL_MECHANISM,
            "GSSAPI (Kerberos) is not built in: build kafkadeps with its `gssapi` feature \
             (kafkadeps-sidecar: `--features gssapi`)",
        );
    }
    let password = match (&raw.sasl_password, &raw.sasl_password_file) {
        (Some(_), Some(_)) => {
            problems.push(
                vars::SASL_PASSWORD_FILE,
                format!(
                    "set either {} or {}, not both",
                    vars::SASL_PASSWORD,
                    vars::SASL_PASSWORD_FILE
                ),
            );
            None
        }
        (Some(p), None) => Some(p.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(s) => Some(Secret::new(s.trim_end_matches(['\n', '\r']))),
            Err(e) => {
                problems.push(
                    vars::SASL_PASSWORD_FILE,
                    format!("cannot read `{path}`: {e}"),
                );
                None
            }
        },
        (None, None) => None,
    };
    let sasl_protocol = raw
        .security_protocol
        .as_deref()
        .is_some_and(|p| p.trim().to_ascii_lowercase().starts_with("sasl"));
    if mechanism.is_some() && !sasl_protocol {
        problems.push(
            vars::SASL_MECHANISM,
            "is set but KAFKA_SECURITY_PROTOCOL is not sasl_plaintext or sasl_ssl",
        );
    }
    let needs_credentials = mechanism.is_some_and(SaslMechanism::needs_password);
    if needs_credentials {
        if raw.sasl_username.is_none() {
            problems.push(
                vars::SASL_USERNAME,
                format!("is required with {}", vars::SASL_MECHANISM),
            );
        }
        if password.is_none() && raw.sasl_password_file.is_none() {
            problems.push(
                vars::SASL_PASSWORD,
                format!(
                    "{} or {} is required with {}",
                    vars::SASL_PASSWORD,
                    vars::SASL_PASSWORD_FILE,
                    vars::SASL_MECHANISM
                ),
            );
        }
    }
    if raw.ssl_key_location.is_some() != raw.ssl_certificate_location.is_some() {
        problems.push(
            vars::SSL_KEY_LOCATION,
            format!(
                "{} and {} go together (mutual TLS)",
                vars::SSL_CERTIFICATE_LOCATION,
                vars::SSL_KEY_LOCATION
            ),
        );
    }
    Security {
        protocol,
        sasl_mechanism: mechanism,
        sasl_username: raw.sasl_username.clone(),
        sasl_password: password,
        ssl_ca_location: raw.ssl_ca_location.clone(),
        ssl_certificate_location: raw.ssl_certificate_location.clone(),
        ssl_key_location: raw.ssl_key_location.clone(),
    }
}
