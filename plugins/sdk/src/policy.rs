//! The typed contract a plugin author implements: [`Validator`] and
//! [`Resolver`], and the values they return ([`Violation`], [`Resolution`]).
//!
//! Owns the Rust-side shape of a policy. It must not know about wasm, JSON
//! text or the generated bindings: the `glue` module converts between these
//! types and the wire. Called by plugin code, `glue` and `testing`.

use crate::Row;

/// One broken rule in a row: the field it concerns (empty for the whole
/// row) and a message for the person who must fix the row.
///
/// A violation is a verdict, not an error: the host marks the queued item
/// `invalid` with these messages and the rest of the batch goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The column the rule is about, or `""` for the row as a whole.
    pub field: String,
    /// What is wrong, phrased for the person who must fix the row.
    pub message: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A violation about the whole row rather than one field.
    pub fn row(message: impl Into<String>) -> Self {
        Self::new("", message)
    }
}

/// A resolver's decision for one conflicting row.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Keep the local row; it is pushed over the remote one.
    TakeLocal,
    /// Take the remote row; the local edit is dropped.
    TakeRemote,
    /// A new row that replaces both. The host checks it against the
    /// table's JSON Schema before using it.
    Merged(Row),
    /// Leave it to a person, with the reason shown to them.
    Manual(String),
}

/// Checks one outgoing row of a table, beyond what its JSON Schema can say.
///
/// Must be a pure function of its inputs: the same row always gives the same
/// answer (a plugin has no clock, files, network or randomness).
pub trait Validator {
    /// `Ok(())` when the row may be pushed, otherwise every broken rule.
    fn validate(table: &str, row: &Row) -> Result<(), Vec<Violation>>;
}

/// Decides one conflict between the local and the remote version of a row.
///
/// `None` for `local` or `remote` means that side deleted the row; `base` is
/// the last version both sides agreed on, `None` when there is none.
/// Must be a pure function of its inputs, so a recorded conflict replays to
/// the same answer.
pub trait Resolver {
    /// The decision, or `Err` for the plugin's own failure (the host then
    /// falls back to a manual conflict, showing the message).
    fn resolve(
        table: &str,
        local: Option<&Row>,
        remote: Option<&Row>,
        base: Option<&Row>,
    ) -> Result<Resolution, String>;
}
