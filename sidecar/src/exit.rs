//! Process exit codes (sysexits.h), a public interface documented in `docs/declarations.md`.

/// Done.
pub const OK: u8 = 0;
/// `EX_USAGE`: the declarations are invalid; nothing was contacted.
pub const INVALID_DECLARATIONS: u8 = 64;
/// `plan --exit-code`: ensure would change the cluster (terraform's `-detailed-exitcode` 2).
pub const CHANGES_PENDING: u8 = 2;
/// `EX_DATAERR`: verify-mode drift, an unmet requirement of a dependency, or a conflict ensure
/// cannot fix.
pub const DRIFT_OR_CONFLICT: u8 = 65;
/// `EX_UNAVAILABLE`: the cluster stayed unavailable until the timeout.
pub const UNAVAILABLE: u8 = 69;
/// `EX_NOPERM`: the cluster refused the credentials or the TLS settings (the message names the
/// variable to fix).
pub const REFUSED: u8 = 77;
/// `EX_SOFTWARE`: an internal error.
pub const SOFTWARE: u8 = 70;
