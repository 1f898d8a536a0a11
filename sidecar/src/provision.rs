//! `plan` and `ensure`: the declarations of the environment against the cluster.

use std::sync::Arc;
use std::time::Duration;

use kafkadeps::config::{Env, Settings};
use kafkadeps::topics::{PlanError, ProvisionError, Provisioner};

use crate::{Output, exit};

/// Reads and validates the declarations; prints every problem on failure.
fn settings() -> Result<Arc<Settings>, u8> {
    match kafkadeps::config::load(&Env::process()) {
        Ok(s) => {
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            Ok(Arc::new(s))
        }
        Err(e) => {
            eprintln!("{e}");
            Err(exit::INVALID_DECLARATIONS)
        }
    }
}

/// The declarations of the environment, validated, and a provisioner for them.
fn prepare() -> Result<Provisioner, u8> {
    Provisioner::new(settings()?).map_err(|e| {
        eprintln!("error: {e}");
        exit::UNAVAILABLE
    })
}

fn failure(e: &ProvisionError) -> u8 {
    eprintln!("error: {}", crate::serve::chain(e));
    match e {
        ProvisionError::Unavailable(_)
        | ProvisionError::Unsettled(_)
        | ProvisionError::NoLeader(_) => exit::UNAVAILABLE,
        ProvisionError::Refused(_) => exit::REFUSED,
        // A declaration the cluster shows to be invalid: as if the validation had refused it.
        ProvisionError::Plan(PlanError::WeakReplicas { .. }) => exit::INVALID_DECLARATIONS,
        _ => exit::DRIFT_OR_CONFLICT,
    }
}

fn print_json(value: &impl serde::Serialize) -> u8 {
    match serde_json::to_string_pretty(value) {
        Ok(s) => {
            println!("{s}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: cannot render JSON: {e}");
            exit::SOFTWARE
        }
    }
}

/// `kafkadeps-sidecar plan [--exit-code]`.
pub async fn plan(output: Output, timeout: Duration, exit_code: bool) -> u8 {
    let provisioner = match prepare() {
        Ok(p) => p,
        Err(code) => return code,
    };
    match provisioner.plan(timeout).await {
        Ok(plan) => {
            let printed = match output {
                Output::Text => {
                    println!("{plan}");
                    exit::OK
                }
                Output::Json => print_json(&plan),
            };
            if printed != exit::OK || !exit_code {
                printed
            } else if plan.fails_policy() {
                exit::DRIFT_OR_CONFLICT
            } else if plan.has_changes() {
                exit::CHANGES_PENDING
            } else {
                exit::OK
            }
        }
        Err(e) => failure(&e),
    }
}

/// `kafkadeps-sidecar ensure`.
pub async fn ensure(output: Output, timeout: Duration) -> u8 {
    let provisioner = match prepare() {
        Ok(p) => p,
        Err(code) => return code,
    };
    match provisioner.ensure(timeout).await {
        Ok(report) => match output {
            Output::Text => {
                println!("{}", report.plan);
                for (topic, outcome) in &report.outcomes {
                    println!(
                        "{topic}: {}",
                        serde_json::to_value(outcome)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default()
                    );
                }
                exit::OK
            }
            Output::Json => print_json(&report),
        },
        Err(e) => failure(&e),
    }
}
