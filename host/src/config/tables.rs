//! `[tables.NAME]` and sandbox limits, raw -> resolved: identifiers, the
//! conflict strategy and its keys, row schema files, limits inheriting
//! `[plugin_limits]`.
//!
//! The per-table half of `resolve` (which owns `Ctx` and the file-wide
//! rules such as duplicate names). Its one side effect is reading the row
//! schema files, named or default; it does not compile them (`policy`
//! does) and does not look at plugin files (`ebb check` does).

use super::raw::{RawLimits, RawTable};
use super::resolve::{Ctx, STRATEGIES};
use super::units;
use super::{
    BothChanged, ConfigError, ConflictPolicy, KeyMode, PluginLimits, SchemaFile, TableConfig,
};

/// `prefix` is "plugin_limits" or "tables.NAME.limits"; unset keys take `base`.
pub(super) fn limits(
    cx: &Ctx,
    prefix: &str,
    raw: Option<&RawLimits>,
    base: &PluginLimits,
) -> Result<PluginLimits, ConfigError> {
    let Some(l) = raw else {
        return Ok(base.clone());
    };
    let key = |k: &str| format!("{prefix}.{k}");
    let out = PluginLimits {
        fuel: l.fuel.unwrap_or(base.fuel),
        fuel_per_byte: l.fuel_per_byte.unwrap_or(base.fuel_per_byte),
        timeout: cx.duration(&key("timeout"), l.timeout.as_ref(), base.timeout, true)?,
        memory: cx.size(&key("memory"), l.memory.as_ref(), base.memory)?,
        max_input: cx.size(&key("max_input"), l.max_input.as_ref(), base.max_input)?,
        max_output: cx.size(&key("max_output"), l.max_output.as_ref(), base.max_output)?,
        max_log: cx.size(&key("max_log"), l.max_log.as_ref(), base.max_log)?,
    };
    if out.fuel == 0 {
        return Err(cx.invalid(&key("fuel"), "must be at least 1"));
    }
    if !(64 << 10..=4 << 30).contains(&out.memory) {
        return Err(cx.invalid(
            &key("memory"),
            format!(
                "{} bytes is outside 64KiB (one wasm page) to 4GiB",
                out.memory
            ),
        ));
    }
    for (name, v) in [("max_input", out.max_input), ("max_output", out.max_output)] {
        if v == 0 {
            return Err(cx.invalid(&key(name), "must be at least 1 byte"));
        }
    }
    Ok(out)
}

pub(super) fn table(
    cx: &Ctx,
    name: &str,
    t: &RawTable,
    base: &PluginLimits,
) -> Result<TableConfig, ConfigError> {
    let key = |k: &str| format!("tables.{name}.{k}");
    units::identifier(name)
        .map_err(|m| cx.invalid(&format!("tables.{name}"), format!("bad table name: {m}")))?;
    let pk = t.pk.clone().unwrap_or_else(|| "id".to_string());
    units::identifier(&pk).map_err(|m| cx.invalid(&key("pk"), m))?;
    let strategy = t.conflict.as_deref().unwrap_or("server_wins");
    if strategy != "merge" {
        for (k, set) in [
            ("merge_on_both", t.merge_on_both.is_some()),
            ("delta_fields", t.delta_fields.is_some()),
        ] {
            if set {
                return Err(cx.invalid(
                    &key(k),
                    format!("only used with conflict = \"merge\" (conflict is \"{strategy}\")"),
                ));
            }
        }
    }
    if strategy != "plugin" && t.resolver.is_some() {
        return Err(cx.invalid(
            &key("resolver"),
            format!("only used with conflict = \"plugin\" (conflict is \"{strategy}\")"),
        ));
    }
    let conflict = match strategy {
        "server_wins" => ConflictPolicy::ServerWins,
        "client_wins" => ConflictPolicy::ClientWins,
        "manual" => ConflictPolicy::Manual,
        "merge" => merge(cx, name, &pk, t)?,
        "plugin" => match &t.resolver {
            Some(file) => ConflictPolicy::Plugin(cx.file(&key("resolver"), file)?),
            None => {
                return Err(cx.invalid(
                    &key("resolver"),
                    "missing: conflict = \"plugin\" needs resolver = \"path/to/resolver.wasm\"",
                ));
            }
        },
        other => {
            return Err(cx.invalid(
                &key("conflict"),
                format!(
                    "unknown strategy {other:?} (expected {})",
                    STRATEGIES.join(" | ")
                ),
            ));
        }
    };
    let keys = match t.keys.as_deref().unwrap_or("shared") {
        "shared" => KeyMode::Shared,
        "map" => KeyMode::Map,
        "single_writer" => KeyMode::SingleWriter,
        other => {
            return Err(cx.invalid(
                &key("keys"),
                format!("unknown value {other:?} (expected shared | map | single_writer)"),
            ));
        }
    };
    let mut references = Vec::new();
    for (column, parent) in t.references.iter().flatten() {
        units::identifier(column).map_err(|m| cx.invalid(&key("references"), m))?;
        units::identifier(parent).map_err(|m| cx.invalid(&key("references"), m))?;
        if column == &pk {
            return Err(cx.invalid(
                &key("references"),
                format!("{column:?} is the primary key, not a foreign key"),
            ));
        }
        references.push((column.clone(), parent.clone()));
    }
    Ok(TableConfig {
        keys,
        references,
        name: name.to_string(),
        pk,
        schema: row_schema(cx, name, t.schema.as_deref())?,
        validate: t
            .validate
            .as_deref()
            .map(|f| cx.file(&key("validate"), f))
            .transpose()?,
        conflict,
        limits: limits(cx, &key("limits"), t.limits.as_ref(), base)?,
    })
}

fn merge(cx: &Ctx, name: &str, pk: &str, t: &RawTable) -> Result<ConflictPolicy, ConfigError> {
    let on_both = match t.merge_on_both.as_deref().unwrap_or("remote") {
        "remote" => BothChanged::Remote,
        "local" => BothChanged::Local,
        "manual" => BothChanged::Manual,
        other => {
            return Err(cx.invalid(
                &format!("tables.{name}.merge_on_both"),
                format!("unknown value {other:?} (expected remote | local | manual)"),
            ));
        }
    };
    let delta_fields = t.delta_fields.clone().unwrap_or_default();
    let key = format!("tables.{name}.delta_fields");
    for (i, field) in delta_fields.iter().enumerate() {
        units::identifier(field).map_err(|m| cx.invalid(&key, m))?;
        if field == pk {
            return Err(cx.invalid(&key, format!("{field:?} is the primary key, not a counter")));
        }
        if delta_fields[..i].contains(field) {
            return Err(cx.invalid(&key, format!("{field:?} is listed twice")));
        }
    }
    Ok(ConflictPolicy::Merge {
        on_both,
        delta_fields,
    })
}

/// The named schema file (which must exist and be JSON), or the default
/// `schemas/NAME.schema.json` when that file exists.
fn row_schema(
    cx: &Ctx,
    name: &str,
    named: Option<&str>,
) -> Result<Option<SchemaFile>, ConfigError> {
    let key = format!("tables.{name}.schema");
    let path = match named {
        Some(file) => cx.file(&key, file)?,
        None => {
            let default = cx.dir.join("schemas").join(format!("{name}.schema.json"));
            if !default.is_file() {
                return Ok(None);
            }
            default
        }
    };
    let shown = path.display();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| cx.invalid(&key, format!("cannot read {shown}: {e}")))?;
    let schema: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| cx.invalid(&key, format!("{shown} is not JSON: {e}")))?;
    if !(schema.is_object() || schema.is_boolean()) {
        return Err(cx.invalid(
            &key,
            format!("{shown} is not a JSON Schema (expected an object)"),
        ));
    }
    Ok(Some(SchemaFile { path, schema }))
}
