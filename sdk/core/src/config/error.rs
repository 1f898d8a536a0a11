//! Errors of the declaration contract: every problem at once, each naming its variable.

use std::fmt;

/// One problem with one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The variable (or annotation) the problem is in, e.g. `KAFKA_PRODUCES`.
    pub variable: String,
    /// What is wrong, in words a service developer understands.
    pub message: String,
}

impl Problem {
    /// A problem with `variable`.
    pub fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

/// The declarations are invalid; nothing was contacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// Every problem found, in the order of the contract's variables.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// The declarations have `problems`.
    pub fn new(problems: Vec<Problem>) -> Self {
        Self { problems }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Kafka declarations ({} problem",
            self.problems.len()
        )?;
        if self.problems.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str("):")?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Collects problems while validating.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    pub(crate) fn push(&mut self, variable: &str, message: impl Into<String>) {
        self.0.push(Problem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    pub(crate) fn into_result<T>(self, ok: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(ok)
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// A topic name Kafka would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicNameError {
    /// Empty, or longer than 249 characters.
    #[error("topic name `{0}` must be 1 to 249 characters long")]
    Length(String),
    /// `.` or `..`.
    #[error("topic name `{0}` is not allowed")]
    Reserved(String),
    /// A character outside `[a-zA-Z0-9._-]`.
    #[error(
        "topic name `{name}` contains `{character}`; only letters, digits, `.`, `_` and `-` are allowed"
    )]
    Character {
        /// The name.
        name: String,
        /// The first character Kafka refuses.
        character: char,
    },
}
