//! One loaded plugin and its calls: the lower-level API under `Policies`,
//! also used by author tooling (`ebb policy run`, `ebb policy replay`).
//!
//! Owns load-time checks (imports only `ebb:policy/host@0.1.0`, exports
//! `validate` or `resolve` at 0.1.0), the pre-instantiated component, and
//! one call: a fresh `Store` with fuel, memory cap, epoch deadline and
//! bounded log; input size checked before, output size after; traps
//! classified into `PolicyError`. Knows nothing of tables' schemas or
//! policies (`Policies` adds those).

use std::path::Path;
use std::time::Instant;

use serde_json::Value;
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

use super::bindings::{WitResolution, resolver::ResolverPre, validator::ValidatorPre};
use super::sandbox::{CallState, Sandbox, deadline_ticks};
use super::{PolicyError, Violation, signature};

mod report;
use crate::config::PluginLimits;
use crate::model::Row;
pub use report::{CallFailure, CallReport, Resolution};

/// The only import a plugin may have (plus the type-only `types`).
pub const HOST_IMPORT: &str = "ebb:policy/host@0.1.0";
const TYPES_IMPORT: &str = "ebb:policy/types@0.1.0";
/// The exports a plugin may offer.
pub const VALIDATE_EXPORT: &str = "ebb:policy/validate@0.1.0";
pub const RESOLVE_EXPORT: &str = "ebb:policy/resolve@0.1.0";

/// A compiled, linked plugin. `Send + Sync`; every call gets its own store.
pub struct Plugin {
    name: String,
    hash: [u8; 32],
    sandbox: Sandbox,
    validator: Option<ValidatorPre<CallState>>,
    resolver: Option<ResolverPre<CallState>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("validates", &self.validator.is_some())
            .field("resolves", &self.resolver.is_some())
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Reads, compiles (cached by content) and checks the component at
    /// `path`. The plugin is named by the file name in every error.
    pub fn load(sandbox: &Sandbox, path: &Path) -> Result<Plugin, PolicyError> {
        let name = plugin_name(path);
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Load {
            plugin: name.clone(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Plugin::from_bytes(sandbox, &name, &bytes)
    }

    /// As `load`, from a component already in memory (binary or WAT text).
    pub fn from_bytes(sandbox: &Sandbox, name: &str, bytes: &[u8]) -> Result<Plugin, PolicyError> {
        let load_err = |e: wasmtime::Error| PolicyError::Load {
            plugin: name.to_string(),
            message: format!("{e:#}"),
        };
        if bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
            return Err(PolicyError::Load {
                plugin: name.to_string(),
                message: "this is a core wasm module, not a component: build it with \
                          wit-bindgen against plugins/wit and wrap it with wit-component"
                    .into(),
            });
        }
        // WAT text is accepted (tests, hand-written plugins) only when it
        // looks like WAT: a parse error quotes the text, and a file named
        // by mistake (a secrets file) must never be echoed.
        let looks_like_wat = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'(' || *b == b';');
        if !bytes.starts_with(b"\0asm") && !looks_like_wat {
            return Err(PolicyError::Load {
                plugin: name.to_string(),
                message: "not a WebAssembly component (no \\0asm header, and not WAT text)".into(),
            });
        }
        let (hash, component) = sandbox.compile(bytes).map_err(load_err)?;
        let engine = sandbox.engine();
        let ty = component.component_type();
        for (import, _) in ty.imports(engine) {
            if import != HOST_IMPORT && import != TYPES_IMPORT {
                return Err(PolicyError::ForbiddenImport {
                    plugin: name.to_string(),
                    import: import.to_string(),
                });
            }
        }
        let exports: Vec<&str> = ty.exports(engine).map(|(n, _)| n).collect();
        let validates = exports.contains(&VALIDATE_EXPORT);
        let resolves = exports.contains(&RESOLVE_EXPORT);
        if !validates && !resolves {
            let found = if exports.is_empty() {
                "nothing".to_string()
            } else {
                exports.join(", ")
            };
            return Err(PolicyError::UnsupportedInterface {
                plugin: name.to_string(),
                found,
            });
        }
        for (exported, interface, func, expected) in [
            (validates, VALIDATE_EXPORT, "validate", signature::VALIDATE),
            (resolves, RESOLVE_EXPORT, "resolve", signature::RESOLVE),
        ] {
            if exported {
                signature::check(engine, &ty, interface, func, expected).map_err(|message| {
                    PolicyError::Load {
                        plugin: name.to_string(),
                        message,
                    }
                })?;
            }
        }
        let pre: InstancePre<CallState> = sandbox
            .linker()
            .instantiate_pre(&component)
            .map_err(load_err)?;
        let validator = match validates {
            true => Some(ValidatorPre::new(pre.clone()).map_err(load_err)?),
            false => None,
        };
        let resolver = match resolves {
            true => Some(ResolverPre::new(pre).map_err(load_err)?),
            false => None,
        };
        Ok(Plugin {
            name: name.to_string(),
            hash,
            sandbox: sandbox.clone(),
            validator,
            resolver,
        })
    }

    /// The file name, as errors show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component's bytes.
    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    /// Whether it exports `ebb:policy/validate@0.1.0`.
    pub fn validates(&self) -> bool {
        self.validator.is_some()
    }

    /// Whether it exports `ebb:policy/resolve@0.1.0`.
    pub fn resolves(&self) -> bool {
        self.resolver.is_some()
    }

    /// Runs `validate(table, row_json)` in a fresh sandbox. `Ok` carries the
    /// plugin's verdict; `Err` is a failure of the plugin itself.
    pub fn validate(
        &self,
        limits: &PluginLimits,
        table: &str,
        row_json: &str,
    ) -> Result<CallReport<Result<(), Vec<Violation>>>, CallFailure> {
        let pre = self
            .validator
            .as_ref()
            .ok_or_else(|| self.missing(VALIDATE_EXPORT))?;
        let input = (table.len() + row_json.len()) as u64;
        let report = self.call(limits, input, |store| {
            let bindings = pre.instantiate(&mut *store)?;
            bindings
                .ebb_policy_validate()
                .call_validate(&mut *store, table, row_json)
        })?;
        let size = match &report.value {
            Ok(()) => 0,
            Err(list) => list.iter().map(|v| v.field.len() + v.message.len()).sum(),
        };
        if let Err(error) = self.check_output(limits, size) {
            return Err(report.failed(error));
        }
        Ok(report.map(|value| {
            value.map_err(|list| {
                list.into_iter()
                    .map(|v| Violation {
                        field: v.field,
                        message: v.message,
                    })
                    .collect()
            })
        }))
    }

    /// Runs `resolve(table, local, remote, base)` in a fresh sandbox. Rows
    /// are JSON text, `null` for a deleted side. A merged row must be a JSON
    /// object; the plugin's own `err` is `PolicyError::PluginError`.
    pub fn resolve(
        &self,
        limits: &PluginLimits,
        table: &str,
        local: &str,
        remote: &str,
        base: Option<&str>,
    ) -> Result<CallReport<Resolution>, CallFailure> {
        let pre = self
            .resolver
            .as_ref()
            .ok_or_else(|| self.missing(RESOLVE_EXPORT))?;
        let input = (table.len() + local.len() + remote.len() + base.map_or(0, str::len)) as u64;
        let report = self.call(limits, input, |store| {
            let bindings = pre.instantiate(&mut *store)?;
            bindings
                .ebb_policy_resolve()
                .call_resolve(&mut *store, table, local, remote, base)
        })?;
        let size = match &report.value {
            Ok(WitResolution::Merged(s) | WitResolution::Manual(s)) | Err(s) => s.len(),
            Ok(_) => 0,
        };
        if let Err(error) = self.check_output(limits, size) {
            return Err(report.failed(error));
        }
        let value = match &report.value {
            Ok(WitResolution::TakeLocal) => Ok(Resolution::TakeLocal),
            Ok(WitResolution::TakeRemote) => Ok(Resolution::TakeRemote),
            Ok(WitResolution::Manual(reason)) => Ok(Resolution::Manual(reason.clone())),
            Ok(WitResolution::Merged(text)) => self.parse_row(text).map(Resolution::Merged),
            Err(message) => Err(PolicyError::PluginError {
                plugin: self.name.clone(),
                message: message.clone(),
            }),
        };
        match value {
            Ok(value) => Ok(report.map(|_| value)),
            Err(error) => Err(report.failed(error)),
        }
    }

    /// Instantiates and calls in a fresh store under `limits`.
    fn call<T>(
        &self,
        limits: &PluginLimits,
        input: u64,
        run: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<CallReport<T>, CallFailure> {
        if input > limits.max_input {
            return Err(PolicyError::InputTooLarge {
                plugin: self.name.clone(),
                size: input,
                limit: limits.max_input,
            }
            .into());
        }
        let fuel = limits
            .fuel
            .saturating_add(limits.fuel_per_byte.saturating_mul(input));
        // Declared before the store, so the store is dropped (its slot
        // returned to the pool) before the claim is released.
        let _slot = self.sandbox.slot();
        let mut store = Store::new(self.sandbox.engine(), CallState::new(limits));
        store.limiter(|state| state.limiter());
        store.set_epoch_deadline(deadline_ticks(limits.timeout));
        let start = Instant::now();
        let result = store.set_fuel(fuel).and_then(|()| run(&mut store));
        let elapsed = start.elapsed();
        let fuel_used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        match result {
            Ok(value) => Ok(CallReport {
                value,
                fuel_used,
                elapsed,
                log: std::mem::take(&mut store.data_mut().log),
            }),
            Err(e) => Err(CallFailure {
                error: self.classify(&e, store.data().memory_denied(), fuel, limits),
                log: std::mem::take(&mut store.data_mut().log),
            }),
        }
    }

    fn classify(
        &self,
        error: &wasmtime::Error,
        memory_denied: bool,
        fuel: u64,
        limits: &PluginLimits,
    ) -> PolicyError {
        let plugin = self.name.clone();
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => PolicyError::OutOfFuel { plugin, fuel },
            Some(Trap::Interrupt) => PolicyError::Timeout {
                plugin,
                after: limits.timeout,
            },
            _ if memory_denied => PolicyError::MemoryLimit {
                plugin,
                limit: limits.memory,
            },
            Some(Trap::StackOverflow) => PolicyError::Trap {
                plugin,
                message: "stack overflow".into(),
            },
            Some(trap) => PolicyError::Trap {
                plugin,
                message: trap
                    .to_string()
                    .trim_start_matches("wasm trap: ")
                    .to_string(),
            },
            None => PolicyError::Trap {
                plugin,
                message: format!("{error:#}"),
            },
        }
    }

    fn check_output(&self, limits: &PluginLimits, size: usize) -> Result<(), PolicyError> {
        let size = size as u64;
        if size > limits.max_output {
            return Err(PolicyError::OutputTooLarge {
                plugin: self.name.clone(),
                size,
                limit: limits.max_output,
            });
        }
        Ok(())
    }

    fn parse_row(&self, text: &str) -> Result<Row, PolicyError> {
        let not_json = |message: String| PolicyError::OutputNotJson {
            plugin: self.name.clone(),
            message,
        };
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(row)) => Ok(row),
            Ok(other) => Err(not_json(format!("found {}", kind(&other)))),
            Err(e) => Err(not_json(e.to_string())),
        }
    }

    fn missing(&self, export: &str) -> PolicyError {
        PolicyError::UnsupportedInterface {
            plugin: self.name.clone(),
            found: format!("no {export}"),
        }
    }
}

/// The file name of a plugin path, for messages.
pub fn plugin_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
