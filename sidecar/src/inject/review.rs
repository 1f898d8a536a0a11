//! One AdmissionReview in, one out: decode, decide, patch or deny, echo the `uid`.

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};

use super::annotations::{Decision, decide};
use super::patch::{grace_warning, patch};
use super::settings::InjectorSettings;

/// What happened to a request (a bounded metric label).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, prometheus_client::encoding::EncodeLabelValue,
)]
#[allow(non_camel_case_types)]
pub(crate) enum Outcome {
    /// The sidecar was added.
    injected,
    /// Not for us (no opt-in, opted out, not a pod CREATE) or already injected.
    skipped,
    /// Invalid declarations: the pod was refused.
    denied,
    /// The request could not be read (HTTP 400).
    malformed,
}

/// The API version this webhook speaks.
const ADMISSION_V1: &str = "admission.k8s.io/v1";

/// Answers one AdmissionReview, in its wire form. `Err` is a malformed request (answered with
/// 400).
pub(crate) fn review(
    body: &[u8],
    settings: &InjectorSettings,
) -> Result<(serde_json::Value, Outcome), String> {
    let (answer, outcome) = decide_review(body, settings)?;
    Ok((wire(&answer)?, outcome))
}

/// The AdmissionReview as the API documents it: `response.patch` is base64 text. (kube's type
/// serializes the bytes as an array of numbers, which Go's decoder happens to accept and other
/// tools do not.)
fn wire(answer: &AdmissionReview<DynamicObject>) -> Result<serde_json::Value, String> {
    use base64::Engine;
    let mut value =
        serde_json::to_value(answer).map_err(|e| format!("cannot encode the answer: {e}"))?;
    if let Some(patch) = value.pointer_mut("/response/patch")
        && let serde_json::Value::Array(bytes) = patch
    {
        let bytes: Vec<u8> = bytes
            .iter()
            .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
            .collect::<Option<_>>()
            .ok_or("the patch is not bytes")?;
        *patch = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into();
    }
    Ok(value)
}

fn decide_review(
    body: &[u8],
    settings: &InjectorSettings,
) -> Result<(AdmissionReview<DynamicObject>, Outcome), String> {
    let review: AdmissionReview<Pod> =
        serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"))?;
    if review.types.api_version != ADMISSION_V1 || review.types.kind != "AdmissionReview" {
        return Err(format!(
            "expected kind AdmissionReview of {ADMISSION_V1}, got {} of {}",
            review.types.kind, review.types.api_version
        ));
    }
    let request: AdmissionRequest<Pod> = review
        .try_into()
        .map_err(|_| "the AdmissionReview has no request".to_owned())?;
    let response = AdmissionResponse::from(&request);
    let pod = match (&request.operation, &request.object) {
        (Operation::Create, Some(pod)) if request.kind.kind == "Pod" => pod,
        _ => return Ok((response.into_review(), Outcome::skipped)),
    };
    let empty = Default::default();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let labels = pod.metadata.labels.as_ref().unwrap_or(&empty);
    match decide(annotations, labels, settings) {
        Err(reason) => Ok((
            response
                .deny(format!("kafkadeps: invalid declarations: {reason}"))
                .into_review(),
            Outcome::denied,
        )),
        Ok(Decision::Skip) => Ok((response.into_review(), Outcome::skipped)),
        Ok(Decision::Inject(declared)) => {
            let ops = patch(pod, &declared);
            let mut response = if ops.is_empty() {
                response
            } else {
                response
                    .with_patch(json_patch::Patch(ops.clone()))
                    .map_err(|e| format!("cannot encode the patch: {e}"))?
            };
            let mut warnings = declared.warnings.clone();
            warnings.extend(grace_warning(pod, &declared));
            if !warnings.is_empty() {
                response.warnings = Some(warnings);
            }
            let outcome = if ops.is_empty() {
                Outcome::skipped
            } else {
                Outcome::injected
            };
            Ok((response.into_review(), outcome))
        }
    }
}
