//! `ebb-componentize`: turns a plugin's core wasm module (as built by
//! `cargo build --target wasm32-unknown-unknown` with the `ebb-policy` SDK)
//! into a WebAssembly component, and refuses any component that imports
//! more than the host log.
//!
//! Owns the build-time check that a plugin is sandboxable: its only import
//! may be [`HOST_INTERFACE`] (no WASI, files, clock, network or
//! randomness). The host repeats that check at load; this one fails the
//! build early with the same reason. It must not run or link the plugin.
//! Called by the `ebb-componentize` binary (from `scripts/build-plugins.sh`)
//! and by this crate's tests.

use wit_component::{ComponentEncoder, DecodedWasm};
use wit_parser::WorldItem;

/// The one interface a plugin may import.
pub const HOST_INTERFACE: &str = "ebb:policy/host@0.1.0";

/// Why a module could not become an acceptable plugin component.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not a core module wit-component can encode: not wasm,
    /// already a component, built without the `ebb-policy` SDK (no component
    /// type section), or its imports and exports do not match the WIT. The
    /// plugin author must fix the build; the message is wit-component's.
    #[error("cannot make a component from the module: {0}")]
    Encode(String),
    /// The bytes are not a component whose imports can be read.
    #[error("cannot read the component's imports: {0}")]
    Decode(String),
    /// The component imports something besides the host log. The plugin
    /// author must remove the dependency that pulls it in (often WASI via
    /// std I/O, or a crate that reads the clock or asks for randomness).
    #[error(
        "the plugin imports `{name}`; a plugin may import only `{HOST_INTERFACE}` \
         (plugins get no WASI, files, clock, network or randomness)"
    )]
    ForbiddenImport {
        /// The offending import, as the component names it.
        name: String,
    },
}

/// Encodes `module` as a component (validated) and checks its imports.
pub fn componentize(module: &[u8]) -> Result<Vec<u8>, Error> {
    let component = ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode())
        .map_err(|e| Error::Encode(format!("{e:#}")))?;
    check_imports(&component)?;
    Ok(component)
}

/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The import's name, `namespace:package/interface@version` for an
    /// interface.
    pub name: String,
    /// How many functions it brings in (0 for a type-only interface).
    pub functions: usize,
}

/// Everything `component` imports, in declaration order.
pub fn imports(component: &[u8]) -> Result<Vec<Import>, Error> {
    let decoded = wit_component::decode(component).map_err(|e| Error::Decode(format!("{e:#}")))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(Error::Decode(
            "this is a WIT package, not a component".into(),
        ));
    };
    Ok(resolve.worlds[world]
        .imports
        .iter()
        .map(|(key, item)| Import {
            name: resolve.name_world_key(key),
            functions: match item {
                WorldItem::Interface { id, .. } => resolve.interfaces[*id].functions.len(),
                WorldItem::Function(_) => 1,
                WorldItem::Type { .. } => 0,
            },
        })
        .collect())
}

/// Fails with [`Error::ForbiddenImport`] on the first import that is
/// neither [`HOST_INTERFACE`] nor a type-only interface of the same
/// `ebb:policy@0.1.0` package.
///
/// The type-only case is not a loophole: an exported interface that uses
/// `ebb:policy/types` (`violation`, `resolution`) makes the component import
/// that interface to name the types, and an import without functions
/// grants the plugin nothing.
pub fn check_imports(component: &[u8]) -> Result<(), Error> {
    match imports(component)?.into_iter().find(|i| !allowed(i)) {
        Some(import) => Err(Error::ForbiddenImport { name: import.name }),
        None => Ok(()),
    }
}

/// Whether a plugin may have `import`.
fn allowed(import: &Import) -> bool {
    import.name == HOST_INTERFACE
        || (import.functions == 0
            && import.name.starts_with("ebb:policy/")
            && import.name.ends_with("@0.1.0"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit_parser::{ManglingAndAbi, Resolve};

    /// A core module for `world` (in `extra` WIT added to the policy WIT),
    /// with its component type section, as wit-bindgen would emit it.
    fn module_for(extra: &str, world: &str) -> Vec<u8> {
        let mut resolve = Resolve::default();
        let wit =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/policy.wit"))
                .unwrap();
        resolve.push_str("policy.wit", &wit).unwrap();
        let package = resolve.push_str("extra.wit", extra).unwrap();
        let world = resolve.select_world(&[package], Some(world)).unwrap();
        let mut module = wit_component::dummy_module(&resolve, world, ManglingAndAbi::Standard32);
        wit_component::embed_component_metadata(
            &mut module,
            &resolve,
            world,
            wit_component::StringEncoding::UTF8,
            false,
        )
        .unwrap();
        module
    }

    #[test]
    fn a_policy_world_becomes_a_component_importing_the_host() {
        let module = module_for(
            "package test:ok; world ok { include ebb:policy/validator@0.1.0; }",
            "ok",
        );
        let component = componentize(&module).unwrap();
        let names: Vec<String> = imports(&component)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert!(names.contains(&HOST_INTERFACE.to_string()), "{names:?}");
        check_imports(&component).unwrap();
    }

    #[test]
    fn any_other_import_is_refused_by_name() {
        let module = module_for(
            "package test:bad;
             interface clock { now: func() -> u64; }
             world bad { include ebb:policy/resolver@0.1.0; import clock; }",
            "bad",
        );
        match componentize(&module) {
            Err(Error::ForbiddenImport { name }) => assert_eq!(name, "test:bad/clock"),
            other => panic!("expected a forbidden import, got {other:?}"),
        }
    }

    #[test]
    fn a_bare_function_import_is_refused() {
        let module = module_for(
            "package test:bare; world bare { include ebb:policy/validator@0.1.0; import random: func() -> u64; }",
            "bare",
        );
        let err = componentize(&module).unwrap_err();
        assert!(
            matches!(&err, Error::ForbiddenImport { name } if name == "random"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("may import only `ebb:policy/host@0.1.0`")
        );
    }

    #[test]
    fn a_type_only_import_outside_ebb_policy_is_refused() {
        let module = module_for(
            "package test:types;
             interface shapes { record point { x: u32 } }
             interface api { use shapes.{point}; get: func() -> point; }
             world w { include ebb:policy/validator@0.1.0; export api; }",
            "w",
        );
        let err = componentize(&module).unwrap_err();
        assert!(
            matches!(&err, Error::ForbiddenImport { name } if name == "test:types/shapes"),
            "{err}"
        );
    }

    #[test]
    fn garbage_and_modules_without_metadata_are_encode_errors() {
        assert!(matches!(componentize(b"not wasm"), Err(Error::Encode(_))));
        assert!(matches!(imports(b"not wasm"), Err(Error::Decode(_))));
        // A module with no component type section encodes to a component
        // with no imports and no exports (the host refuses it for lacking
        // the export; it breaks no sandbox rule).
        let empty = componentize(b"\0asm\x01\0\0\0").unwrap();
        assert!(imports(&empty).unwrap().is_empty());
    }
}
