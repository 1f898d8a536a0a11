//! What a handler returns, and how failures are classified.

use std::fmt;

use crate::codec::CodecError;

/// How a failure should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// Transient (a timeout, a dependency down): retried in place with backoff.
    Retryable,
    /// Permanent: the record goes to the dead-letter topic at once.
    Permanent,
    /// The record cannot be decoded: dead-lettered at once.
    Poison,
}

/// A handler failed for a record.
#[derive(Debug)]
pub struct HandlerError {
    kind: FailureKind,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl HandlerError {
    /// A transient failure: retry the record.
    pub fn retryable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: FailureKind::Retryable,
            source: e.into(),
        }
    }
    /// A permanent failure: dead-letter the record.
    pub fn permanent(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: FailureKind::Permanent,
            source: e.into(),
        }
    }
    /// An undecodable record: dead-letter it.
    pub fn poison(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            kind: FailureKind::Poison,
            source: e.into(),
        }
    }
    /// The classification.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }
    /// A stable name of the error kind for headers and metrics.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kind {
            FailureKind::Retryable => "retryable",
            FailureKind::Permanent => "permanent",
            FailureKind::Poison => "poison",
        }
    }
    /// The whole cause chain as one line (for the dead-letter headers and logs).
    pub(crate) fn chain(&self) -> String {
        let mut out = self.source.to_string();
        let mut cause = self.source.source();
        while let Some(c) = cause {
            out.push_str(": ");
            out.push_str(&c.to_string());
            cause = c.source();
        }
        out
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handler failed ({})", self.kind_name())
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Decode failures are poison records.
impl From<CodecError> for HandlerError {
    fn from(e: CodecError) -> Self {
        Self::poison(e)
    }
}
