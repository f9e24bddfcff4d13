//! The glue between the wire (JSON text, generated WIT types) and the typed
//! [`Validator`] / [`Resolver`] traits, and the export macros that install it
//! in a plugin crate.
//!
//! Owns the parsing of inputs and the encoding of outputs for every plugin.
//! Bad input never panics: for a validator it becomes a whole-row
//! [`Violation`], for a resolver an `Err` (the host then falls back to a
//! manual conflict). Called by the code `export_validator!` and
//! `export_resolver!` generate, and by [`crate::testing`] (the text-level
//! functions, so native tests run the same path as the wasm build).

use crate::bindings::{resolver, validator};
use crate::json::{parse_row, parse_side};
use crate::{Resolution, Resolver, Validator, Violation};

/// Runs `V` on row text: parses it, then validates it.
pub fn validate_text<V: Validator>(table: &str, row: &str) -> Result<(), Vec<Violation>> {
    let row = parse_row("row", row).map_err(|message| vec![Violation::row(message)])?;
    V::validate(table, &row)
}

/// Runs `R` on the three sides as text (`null` text for a deleted side).
pub fn resolve_text<R: Resolver>(
    table: &str,
    local: &str,
    remote: &str,
    base: Option<&str>,
) -> Result<Resolution, String> {
    let local = parse_side("local", local)?;
    let remote = parse_side("remote", remote)?;
    let base = match base {
        Some(text) => parse_side("base", text)?,
        None => None,
    };
    R::resolve(table, local.as_ref(), remote.as_ref(), base.as_ref())
}

/// [`validate_text`] with the result in the generated WIT types.
pub fn validate_wire<V: Validator>(
    table: &str,
    row: &str,
) -> Result<(), Vec<validator::ebb::policy::types::Violation>> {
    validate_text::<V>(table, row).map_err(|violations| {
        violations
            .into_iter()
            .map(|v| validator::ebb::policy::types::Violation {
                field: v.field,
                message: v.message,
            })
            .collect()
    })
}

/// [`resolve_text`] with the result in the generated WIT types: a merged
/// row is encoded back to JSON text.
pub fn resolve_wire<R: Resolver>(
    table: &str,
    local: &str,
    remote: &str,
    base: Option<&str>,
) -> Result<resolver::ebb::policy::types::Resolution, String> {
    use resolver::ebb::policy::types::Resolution as Wire;
    Ok(match resolve_text::<R>(table, local, remote, base)? {
        Resolution::TakeLocal => Wire::TakeLocal,
        Resolution::TakeRemote => Wire::TakeRemote,
        Resolution::Merged(row) => {
            Wire::Merged(serde_json::to_string(&row).map_err(|e| format!("merged row: {e}"))?)
        }
        Resolution::Manual(reason) => Wire::Manual(reason),
    })
}

/// Exports a [`Validator`] implementation as this crate's `validate`.
///
/// Use once, in a plugin crate built for `wasm32-unknown-unknown`:
///
/// ```
/// use ebb_policy::{Row, Validator, Violation};
///
/// struct Products;
///
/// impl Validator for Products {
///     fn validate(_table: &str, _row: &Row) -> Result<(), Vec<Violation>> {
///         Ok(())
///     }
/// }
///
/// ebb_policy::export_validator!(Products);
/// ```
#[macro_export]
macro_rules! export_validator {
    ($ty:ty) => {
        const _: () = {
            #[allow(dead_code)]
            struct EbbValidatorExport;

            impl $crate::bindings::validator::exports::ebb::policy::validate::Guest
                for EbbValidatorExport
            {
                fn validate(
                    table: ::std::string::String,
                    row: ::std::string::String,
                ) -> ::core::result::Result<
                    (),
                    ::std::vec::Vec<$crate::bindings::validator::ebb::policy::types::Violation>,
                > {
                    $crate::__private::validate_wire::<$ty>(&table, &row)
                }
            }

            // Native builds (unit tests) get no exports: the export names
            // (`ebb:policy/...#...`) are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::validator::export!(
                EbbValidatorExport with_types_in $crate::bindings::validator
            );
        };
    };
}

/// Exports a [`Resolver`] implementation as this crate's `resolve`.
///
/// Use once, in a plugin crate built for `wasm32-unknown-unknown`:
///
/// ```
/// use ebb_policy::{Resolution, Resolver, Row};
///
/// struct Stock;
///
/// impl Resolver for Stock {
///     fn resolve(
///         _table: &str,
///         _local: Option<&Row>,
///         _remote: Option<&Row>,
///         _base: Option<&Row>,
///     ) -> Result<Resolution, String> {
///         Ok(Resolution::TakeRemote)
///     }
/// }
///
/// ebb_policy::export_resolver!(Stock);
/// ```
#[macro_export]
macro_rules! export_resolver {
    ($ty:ty) => {
        const _: () = {
            #[allow(dead_code)]
            struct EbbResolverExport;

            impl $crate::bindings::resolver::exports::ebb::policy::resolve::Guest
                for EbbResolverExport
            {
                fn resolve(
                    table: ::std::string::String,
                    local: ::std::string::String,
                    remote: ::std::string::String,
                    base: ::core::option::Option<::std::string::String>,
                ) -> ::core::result::Result<
                    $crate::bindings::resolver::ebb::policy::types::Resolution,
                    ::std::string::String,
                > {
                    $crate::__private::resolve_wire::<$ty>(&table, &local, &remote, base.as_deref())
                }
            }

            // Native builds (unit tests) get no exports: the export names
            // (`ebb:policy/...#...`) are not valid native symbol names.
            #[cfg(target_arch = "wasm32")]
            $crate::bindings::resolver::export!(
                EbbResolverExport with_types_in $crate::bindings::resolver
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Row, RowExt};

    /// Rejects rows whose `n` is negative; reports the table it was given.
    struct NonNegative;

    impl Validator for NonNegative {
        fn validate(table: &str, row: &Row) -> Result<(), Vec<Violation>> {
            match row.int("n") {
                Some(n) if n < 0 => Err(vec![Violation::new("n", format!("{table}: negative"))]),
                _ => Ok(()),
            }
        }
    }

    /// Echoes which sides it saw, merging into a row that says so.
    struct Sides;

    impl Resolver for Sides {
        fn resolve(
            _table: &str,
            local: Option<&Row>,
            remote: Option<&Row>,
            base: Option<&Row>,
        ) -> Result<Resolution, String> {
            let mut row = Row::new();
            row.insert("local".into(), local.is_some().into());
            row.insert("remote".into(), remote.is_some().into());
            row.insert("base".into(), base.is_some().into());
            Ok(Resolution::Merged(row))
        }
    }

    #[test]
    fn validate_wire_converts_violations() {
        assert_eq!(validate_wire::<NonNegative>("t", r#"{"n":1}"#), Ok(()));
        let err = validate_wire::<NonNegative>("t", r#"{"n":-1}"#).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, "n");
        assert_eq!(err[0].message, "t: negative");
    }

    #[test]
    fn validate_bad_json_is_a_row_violation() {
        for text in ["", "{", "[]", "null", "42"] {
            let err = validate_text::<NonNegative>("t", text).unwrap_err();
            assert_eq!(err.len(), 1, "{text}");
            assert_eq!(err[0].field, "", "{text}");
            assert!(
                err[0].message.starts_with("row "),
                "{text}: {}",
                err[0].message
            );
        }
    }

    #[test]
    fn resolve_wire_encodes_merged_rows_and_deleted_sides() {
        use resolver::ebb::policy::types::Resolution as Wire;
        match resolve_wire::<Sides>("t", "null", "{}", None) {
            Ok(Wire::Merged(text)) => {
                assert_eq!(text, r#"{"local":false,"remote":true,"base":false}"#)
            }
            other => panic!("unexpected {other:?}"),
        }
        match resolve_wire::<Sides>("t", "{}", "null", Some("{}")) {
            Ok(Wire::Merged(text)) => {
                assert_eq!(text, r#"{"local":true,"remote":false,"base":true}"#)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn resolve_bad_json_is_an_error_naming_the_side() {
        let err = resolve_text::<Sides>("t", "{", "{}", None).unwrap_err();
        assert!(err.starts_with("local is not valid JSON"), "{err}");
        let err = resolve_text::<Sides>("t", "{}", "7", None).unwrap_err();
        assert_eq!(err, "remote must be a JSON object or null, got a number");
        let err = resolve_text::<Sides>("t", "{}", "{}", Some("[")).unwrap_err();
        assert!(err.starts_with("base is not valid JSON"), "{err}");
    }
}
