//! The wit-bindgen bindings for the two worlds of `ebb:policy@0.1.0`, one
//! module per world.
//!
//! Owns nothing but generated code. Plugin authors do not use it directly:
//! the `export_validator!` / `export_resolver!` macros (see `glue`) call the
//! generated `export!` macros from the plugin crate. The generated export
//! macros are public (`pub_export_macro`) and find these modules through the
//! absolute path `ebb_policy::bindings::...`, which is what lets a plugin crate
//! export through a library it depends on.
//!
//! The WIT is read from `plugins/sdk/wit`, a copy of `plugins/wit` kept inside
//! this crate so it builds as a path or registry dependency; a unit test in
//! `lib.rs` fails when the two copies differ.

/// Bindings for the `validator` world: imports `host`, exports `validate`.
pub mod validator {
    wit_bindgen::generate!({
        world: "validator",
        path: "wit",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "export",
        default_bindings_module: "ebb_policy::bindings::validator",
        runtime_path: "ebb_policy::__private::wit_bindgen::rt",
    });
}

/// Bindings for the `resolver` world: imports `host`, exports `resolve`.
pub mod resolver {
    wit_bindgen::generate!({
        world: "resolver",
        path: "wit",
        pub_export_macro: true,
        additional_derives: [PartialEq],
        export_macro_name: "export",
        default_bindings_module: "ebb_policy::bindings::resolver",
        runtime_path: "ebb_policy::__private::wit_bindgen::rt",
    });
}
