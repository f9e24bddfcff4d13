//! `ebb-policy`: write ebb validation and conflict-resolution policies in
//! Rust, built as WebAssembly components for `ebb:policy@0.1.0`.
//!
//! Owns the author-facing API: the [`Validator`] and [`Resolver`] traits,
//! [`Row`] helpers, merge helpers ([`Sides`]), [`log`], the [`export_validator!`] / [`export_resolver!`]
//! macros and the native [`testing`] helpers. It must stay wasm-friendly:
//! no I/O, no clock, no randomness, nothing that makes a
//! `wasm32-unknown-unknown` build import anything but `ebb:policy/host`.
//! Used by plugin crates (see `plugins/examples`); the host never links it.
//!
//! A plugin is a `cdylib` crate:
//!
//! ```
//! use ebb_policy::{Row, RowExt, Validator, Violation};
//!
//! pub struct Products;
//!
//! impl Validator for Products {
//!     fn validate(_table: &str, row: &Row) -> Result<(), Vec<Violation>> {
//!         match row.int("stock") {
//!             Some(n) if n < 0 => Err(vec![Violation::new("stock", "must not be negative")]),
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! ebb_policy::export_validator!(Products);
//! ```
//!
//! built with `cargo build --release --target wasm32-unknown-unknown` and
//! turned into a component by `ebb-componentize` (`scripts/build-plugins.sh`
//! does both).
//!
//! # Layout
//!
//! - `policy`: the traits and their result types.
//! - `json`: [`Row`], [`RowExt`], parsing of the JSON text inputs.
//! - `log`: the host log import, or a per-thread buffer in native builds.
//! - `merge`: [`Sides`], building blocks for resolvers that merge.
//! - `glue`: wire <-> traits conversion and the export macros.
//! - `bindings`: wit-bindgen output for the `validator` and `resolver` worlds.
//! - `testing`: run a plugin natively.

extern crate self as ebb_policy;

pub mod bindings;
mod glue;
mod json;
mod log;
mod merge;
mod policy;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use json::{Row, RowExt};
pub use log::{Level, log};
pub use merge::Sides;
pub use policy::{Resolution, Resolver, Validator, Violation};
pub use serde_json;

/// Used by the code the export macros generate; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::glue::{resolve_wire, validate_wire};
    pub use wit_bindgen;
}

#[cfg(test)]
mod tests {
    /// The SDK builds from its own copy of the WIT (so it works as a path
    /// or registry dependency); it must be the project's WIT, byte for byte.
    #[test]
    fn wit_copy_matches_the_project_wit() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let ours = std::fs::read_to_string(dir.join("wit/policy.wit")).unwrap();
        let project = std::fs::read_to_string(dir.join("../wit/policy.wit")).unwrap();
        assert!(
            ours == project,
            "plugins/sdk/wit/policy.wit differs from plugins/wit/policy.wit: \
             copy plugins/wit/policy.wit over it"
        );
    }
}
